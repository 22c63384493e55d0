"""The benchmark harness: `make bench`, or `.venv/bin/python -m bench.run [--quick]`.

Measurements, not tests: a monolith baseline, raw Kafka, and the whole platform under a
booking load, each in a private namespace (scratch databases, fresh topics) that is removed
afterwards. `run.py` orchestrates; each other module holds one idea.
"""
