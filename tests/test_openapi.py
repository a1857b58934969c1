"""The OpenAPI document describes what the API really sends.

A strict client generated from `/openapi.json` (every declared object closed to undeclared
fields, `nullable` honoured) must parse every real answer of every operation: successes of each
task, replays, cancels and the error answers. Every operation has a summary, and every example
in the document fits its own schema.
"""
from __future__ import annotations

import base64
import copy

import jsonschema
import pytest

import mediagen


def _strict(node):
    """OpenAPI 3.0 schema -> JSON Schema for a strict client: `nullable` becomes a null type,
    and an object with declared properties admits no others."""
    if isinstance(node, list):
        return [_strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _strict(v) for k, v in node.items() if k not in ("nullable", "example")}
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", False)
    return out


class Spec:
    def __init__(self, doc: dict):
        self.doc = doc
        self.components = _strict(doc["components"])

    def schema_for(self, path: str, method: str, status: int) -> dict:
        op = self.doc["paths"][path][method]
        resp = op["responses"].get(str(status)) or op["responses"]["default"]
        if "$ref" in resp:
            resp = self.doc["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
        return resp["content"]["application/json"]["schema"]

    def check(self, path: str, method: str, status: int, body) -> None:
        schema = {**_strict(self.schema_for(path, method, status)),
                  "components": self.components}
        jsonschema.validate(body, schema, cls=jsonschema.Draft4Validator)


@pytest.fixture(scope="module")
def spec(api) -> Spec:
    import requests

    return Spec(requests.get(api.base + "/openapi.json", timeout=10).json())


def _checked(spec: Spec, resp, path: str, method: str = "get"):
    assert resp.headers["content-type"].startswith("application/json"), resp.text[:200]
    spec.check(path, method, resp.status_code, resp.json())
    return resp.json()


def test_every_operation_has_a_summary_and_examples_fit(spec):
    for path, ops in spec.doc["paths"].items():
        for method, op in ops.items():
            if method == "parameters":
                continue
            assert op.get("summary"), f"{method.upper()} {path} has no summary"
            for status, resp in op["responses"].items():
                media = (resp.get("content") or {}).get("application/json") or {}
                if "example" in media:
                    spec.check(path, method, int(status) if status.isdigit() else 500,
                               media["example"])


def test_real_answers_of_the_job_operations_fit_the_document(client, spec):
    jobs, one = "/v1/jobs", "/v1/jobs/{job_id}"
    png = base64.b64encode(mediagen.image()).decode()
    text = client.submit({"text": "you are an idiot", "tasks": ["moderate", "speak"],
                          "metadata": {"k": "v"}}, headers={"Idempotency-Key": "oa-1"})
    first = _checked(spec, text, jobs, "post")
    assert text.status_code == 202
    replay = client.submit({"text": "you are an idiot", "tasks": ["moderate", "speak"],
                            "metadata": {"k": "v"}}, headers={"Idempotency-Key": "oa-1"})
    assert replay.status_code == 200 and _checked(spec, replay, jobs, "post")["id"] == first["id"]
    image = _checked(spec, client.submit({"image_url": f"data:image/png;base64,{png}",
                                          "tasks": ["moderate", "describe"]}), jobs, "post")
    audio = _checked(spec, client.submit_file("a.wav", mediagen.wav(2.0), "audio/wav",
                                              {"options": '{"response_format": "srt"}'}),
                     jobs, "post")
    for job in (first, image, audio):
        done = client.poll(job["id"])
        assert done["status"] == "succeeded", done
        _checked(spec, client.get(f"/v1/jobs/{job['id']}"), one)
    assert client.get(f"/v1/jobs/{first['id']}/speech").status_code == 200
    _checked(spec, client.get("/v1/jobs?limit=2"), jobs)
    canceled = _checked(spec, client.delete(f"/v1/jobs/{image['id']}"), one, "delete")
    assert canceled["media_deleted"] is True and canceled["results"] == {}


def test_failed_jobs_and_error_answers_fit_the_document(client, spec, stub):
    jobs, one = "/v1/jobs", "/v1/jobs/{job_id}"
    stub.reset()
    bad = client.submit({"text": "x" * 10, "tasks": ["describe"]})
    assert bad.status_code == 422 and _checked(spec, bad, jobs, "post")["error"]["field"] == "tasks"
    assert client.post(jobs, data=b"{", headers={"Content-Type": "application/json"}
                       ).status_code == 400
    _checked(spec, client.post(jobs, data=b"{", headers={"Content-Type": "application/json"}),
             jobs, "post")
    _checked(spec, client.post(jobs, data=b"x", headers={"Content-Type": "text/plain"}),
             jobs, "post")
    client.submit({"text": "a"}, headers={"Idempotency-Key": "oa-2"})
    conflict = client.submit({"text": "b"}, headers={"Idempotency-Key": "oa-2"})
    assert conflict.status_code == 409 and _checked(spec, conflict, jobs, "post")
    missing = client.get("/v1/jobs/job_nope")
    assert missing.status_code == 404 and _checked(spec, missing, one)
    assert _checked(spec, client.get("/v1/jobs?limit=0"), jobs)["error"]["field"] == "limit"
    # A step that fails: an audio job whose upstream refuses the key fails with task errors.
    stub.script("/audio/transcriptions", [{"status": 401}] * 3)
    r = client.submit_file("a.wav", mediagen.wav(1.0), "audio/wav")
    failed = client.poll(r.json()["id"])
    assert failed["status"] == "failed" and failed["task_errors"]
    _checked(spec, client.get(f"/v1/jobs/{failed['id']}"), one)


def test_probe_provider_and_usage_answers_fit_the_document(client, spec):
    _checked(spec, client.get("/healthz"), "/healthz")
    ready = client.get("/readyz")
    assert ready.status_code in (200, 503) and _checked(spec, ready, "/readyz")
    _checked(spec, client.get("/v1/providers"), "/v1/providers")
    _checked(spec, client.get("/v1/usage"), "/v1/usage")
    assert _checked(spec, client.get("/v1/usage?day=2026-13-01"), "/v1/usage")["error"]


def test_strict_check_rejects_an_undeclared_field(spec):
    """The checker itself: a job answer with one field the document does not declare fails."""
    job = copy.deepcopy(spec.doc["paths"]["/v1/jobs/{job_id}"]["get"]["responses"]["200"]
                        ["content"]["application/json"]["example"])
    spec.check("/v1/jobs/{job_id}", "get", 200, job)
    job["_lease"] = {"holder": "x"}
    with pytest.raises(jsonschema.ValidationError):
        spec.check("/v1/jobs/{job_id}", "get", 200, job)
