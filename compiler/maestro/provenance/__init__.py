"""Field provenance: where each value of a rendered object came from (`maestro why`).

Recorded while the renderers build the objects (`record.py`), only when asked
(`pipeline.trace_model`: `maestro why` and bench/bench_provenance.py); a normal render runs
none of it. Resolved into the lines that set a value, following the precedence chain
(`explain.py`).
"""
