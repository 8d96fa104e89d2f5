"""Maestro: compile one maestro.yaml per model into the tree Argo CD syncs."""

__version__ = "0.1.0"
