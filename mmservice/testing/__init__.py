"""Launchers for the real pieces (Redis, the upstream stub, Celery workers, the API), shared by
`tests/` and `bench/`.

Why in the package and not in `tests/conftest.py`: the benchmarks start the same processes the
same way, and a conftest is not importable as a library. Nothing in the service imports this.
"""
