"""The front end: YAML with positions in, a typed and checked spec out (load, validate, semantic rules)."""
