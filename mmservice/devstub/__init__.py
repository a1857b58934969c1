"""An OpenAI-wire-compatible upstream stub for tests, local development and benchmarks.

A real HTTP server (not a mocked client) so that the code under test runs its real transport:
the official `openai` client, its retries, timeouts, keep-alive pool and error mapping.

    stub = start_stub()                      # background thread, free port
    client = OpenAI(base_url=stub.base_url, api_key="x", max_retries=0)
    stub.script("/moderations", [{"status": 429, "retry_after": 1}])
    ...
    stub.shutdown()

CLI: `python -m mmservice.devstub --port 8100 [--latency-ms N] [--profile NAME]`.
"""
from .faults import Fault
from .profiles import PROFILES
from .server import MAX_UPLOAD_BYTES, StubServer, start_stub

__all__ = ["start_stub", "StubServer", "Fault", "PROFILES", "MAX_UPLOAD_BYTES"]
