"""A client that hangs up cancels its upstream call (issue 18 point 3).

The upstream is the stub, made to hang by a fault marker in the request's own text. The client
is a raw socket: it sends the request, waits until the stub has it (the stub's request log is the
signal), and closes. The upstream connection must then be closed by the facade (the stub records
`status: "client_gone"`: it saw the connection close while it was hanging), the call must not be
retried, and its audit entry says 499. Meanwhile a hanging call holds up nobody else's.

Own stack with a 30 s upstream timeout (as long as the hang): only a cancel, never a timeout,
can end the upstream call within the test.
"""
from __future__ import annotations

import json
import socket
import time
import uuid
from urllib.parse import urlsplit

import httpx
import pytest

from mmservice import audit
from mmservice.facade.audit_writer import writer_for

HANG = "[[fault:hang=30]]"


@pytest.fixture(scope="module")
def s(module_stack):
    return module_stack({"UPSTREAM_TIMEOUT_S": 30.0}, name="facade-cancel", workers=0)


def _send(s, path: str, body: dict) -> socket.socket:
    """The request, written on a socket of our own (so we decide when it closes)."""
    url = urlsplit(s.api_url)
    sock = socket.create_connection((url.hostname, url.port))
    data = json.dumps(body).encode()
    sock.sendall(b"POST %s HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer %s\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                 % (path.encode(), s.api.key.encode(), len(data), data))
    return sock


def _facade_entries(s, status: int) -> list[dict]:
    svc = s.api.app.extensions["mms"]
    return [e for e in audit.read(svc.redis, svc.store.keys, "default", types=("facade",),
                                  limit=10000) if e["event"]["status"] == status]


@pytest.mark.parametrize("path,body", [
    ("/v1/moderations", lambda tag: {"input": f"{tag} {HANG}"}),
    ("/v1/chat/completions", lambda tag: {"model": "gpt-4o-mini", "messages": [
        {"role": "user", "content": f"{tag} {HANG}"}]}),
])
def test_a_client_that_hangs_up_cancels_the_upstream_call(s, stub, path, body):
    tag = f"cancel-{uuid.uuid4().hex}"
    ours = lambda records: [r for r in records  # noqa: E731
                            if tag in json.dumps(r.get("json"))]
    gone_before = len(_facade_entries(s, 499))
    sock = _send(s, path, body(tag))
    try:
        stub.requests.wait_for(ours, 30)  # the upstream has it, and hangs
        # The hanging call holds its own thread only: another call is answered meanwhile.
        other = httpx.post(s.api_url + "/v1/moderations",
                           json={"input": f"meanwhile {time.time()}"},
                           headers={"Authorization": f"Bearer {s.api.key}"}, timeout=30)
        assert other.status_code == 200, other.text
    finally:
        sock.close()
    records = stub.requests.wait_for(
        lambda rs: any(r.get("status") == "client_gone" for r in ours(rs)), 20)
    assert [r.get("status") for r in ours(records)] == ["client_gone"]
    # The facade's side: the call ended as 499 (its audit entry is written after the
    # answer by the background writer; drained until it is there).
    writer = writer_for(s.api.app.extensions["mms"])
    deadline = time.monotonic() + 20
    while len(_facade_entries(s, 499)) == gone_before and time.monotonic() < deadline:
        writer.drain()
        time.sleep(0.05)
    assert len(_facade_entries(s, 499)) == gone_before + 1
    # Handled to the end (the entry is written after the answer): never retried upstream.
    assert len(ours(stub.requests.snapshot())) == 1
