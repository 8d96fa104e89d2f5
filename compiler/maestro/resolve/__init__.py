"""Resolve: spec + platform config + overlay -> the effective spec per environment (DESIGN.md "Precedence")."""
