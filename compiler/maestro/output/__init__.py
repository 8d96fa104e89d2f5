"""Output: verify rendered objects against their schemas, emit the deterministic tree, and report diagnostics."""
