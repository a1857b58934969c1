"""The facade's routes: thin views that parse (moderations.py, audio.py), call (calls.py,
passthrough.py) and leave their records (records.py). Errors are OpenAI's shape (errors.py)."""
from __future__ import annotations

import secrets
from typing import Any

from flask import Response, g, request, stream_with_context
from flask_smorest import Blueprint

from mmservice.api.context import services, tenant, tenant_cfg
from mmservice.auth.scopes import requires
from mmservice.errors import BadRequest, CapabilityUnavailable, MMSError
from mmservice.facade import audio, calls, errors, moderations, passthrough, records

blp = Blueprint("facade", __name__, description="OpenAI-compatible facade")
errors.register(blp)
VERDICT_HEADER, POLICY_HEADER = "x-mmservice-verdict", "x-mmservice-policy"


def _json_body() -> Any:
    body = request.get_json(silent=True)
    if body is None:
        raise BadRequest("We could not parse the JSON body of your request.", code="invalid_json")
    return body


def _gone() -> bool:
    return calls.client_gone(request.environ)


def _watched() -> Any:
    """Upstream calls made in the block end when the client hangs up (`providers.cancel`)."""
    from mmservice.providers import cancel

    env = request.environ
    return cancel.watching(env.get("gunicorn.socket") or env.get("werkzeug.socket"))


def _ran_on(op: str) -> str:
    """Where this call runs (`calls.run`), for its audit entry."""
    where = "worker" if calls.local(services().cfg, op) else "api"
    _note(ran_on=where)
    return where


def _note(**fields: Any) -> None:
    """Fields for this call's audit entry (written after the answer is made)."""
    g.setdefault("facade_audit", {}).update(fields)


@blp.after_request
def _audit(response: Response) -> Response:
    who = g.get("tenant")
    if who:
        key = g.get("key")
        event = {"type": f"facade.{(request.endpoint or '').rsplit('.', 1)[-1]}",
                 "actor": key.prefix if key is not None else "auth-disabled",
                 "status": response.status_code, "request_id": g.get("facade_request_id"),
                 **g.get("facade_audit", {})}
        records.audit_call(services(), who, event)
    return response


@blp.before_request
def _request_id() -> None:
    g.facade_request_id = "req_" + secrets.token_hex(12)


def _with_id(resp: Response) -> Response:
    resp.headers["x-request-id"] = g.facade_request_id
    return resp


# -- moderations ---------------------------------------------------------------------------------
@blp.route("/v1/moderations", methods=["POST"])
@requires(blp, "submit", errors=errors.DOC)
@blp.doc(summary="Moderate text and images (OpenAI-compatible)")
def create_moderation():
    svc, who, cfg = services(), tenant(), tenant_cfg()
    body = _json_body()
    items, images = moderations.parse(body, cfg)
    name = request.headers.get(POLICY_HEADER)
    if _ran_on("moderate") == "api":
        with _watched():
            ref, out = calls.moderate_here(svc, who, items, images, name)
    else:
        ref = moderations.policy_ref(svc.deps.policies, who, name)
        out, _ = calls.run(svc, "moderate", who, {"items": items, "policy": ref}, images, _gone)
    results = out["results"]
    for n, (item, res) in enumerate(zip(items, results)):
        records.count(svc, who, "moderation", res)
        if res["verdict"] == "review":
            records.on_review_verdict(svc, who, res, f"{g.facade_request_id}.{n}", item,
                                      images)
    verdict = moderations.worst(results)
    answer = moderations.render(results, items, body.get("model"))
    _note(verdict=verdict, policy=ref, model=answer["model"], inputs=len(items),
          cached=all(r.get("cached") for r in results))
    resp = svc_json(answer)
    resp.headers[VERDICT_HEADER] = verdict
    resp.headers[POLICY_HEADER] = f"{ref['name']}@{ref['version']}"
    return resp


def svc_json(obj: Any, status: int = 200) -> Response:
    from flask import json

    return _with_id(Response(json.dumps(obj), status=status, mimetype="application/json"))


# -- chat ----------------------------------------------------------------------------------------
@blp.route("/v1/chat/completions", methods=["POST"])
@requires(blp, "submit", errors=errors.DOC)
@blp.doc(summary="Chat completions, streamed or not, passed to the upstream (OpenAI-compatible)")
def create_chat_completion():
    svc, who = services(), tenant()
    body = _json_body()
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_json")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("Missing required parameter: 'model'.",
                         code="missing_required_parameter", field="model")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise BadRequest("Missing required parameter: 'messages'.",
                         code="missing_required_parameter", field="messages")
    if calls.local(svc.cfg, "chat"):
        raise CapabilityUnavailable(
            "chat completions need an upstream chat model; the offline engines do not chat "
            "(set MMS_VISION_BASE_URL or OPENAI_BASE_URL)", code="capability_unavailable_offline",
            field="model")
    provider = svc.providers.get("vision")
    stream = bool(body.get("stream"))
    _note(model=body["model"], stream=stream)
    with _watched():
        resp = passthrough.open_call(provider, "/chat/completions", body, stream=stream)
        data = b"" if stream else resp.content
    ctype = resp.headers.get("content-type", "application/json")
    if not stream:
        try:
            usage = resp.json().get("usage") or {}
        except ValueError:
            usage = {}
        records.count(svc, who, "vision", {"model": body["model"], "usage": usage})
        return _with_id(Response(data, status=resp.status_code, content_type=ctype))

    def counted(tail: bytes) -> None:
        records.count(svc, who, "vision", {"model": body["model"],
                                           "usage": passthrough.sse_usage(tail)})

    out = Response(stream_with_context(passthrough.relay(resp, counted)), status=200,
                   content_type=ctype)
    out.headers["Cache-Control"] = "no-cache"
    out.headers["X-Accel-Buffering"] = "no"  # a proxy in front must not hold the events back
    return _with_id(out)


# -- audio ---------------------------------------------------------------------------------------
def _transcription(task: str) -> Response:
    svc, who = services(), tenant()
    params, data = audio.parse_transcription(request.form, request.files, tenant_cfg(), task)
    _ran_on("transcribe")
    with _watched():
        result, _ = calls.run(svc, "transcribe", who, params, [data], _gone)
    records.count(svc, who, "transcription", result)
    _note(model=result.get("model"), audio_seconds=result.get("duration_s"),
          cached=bool(result.get("cached")))
    answer, mime = audio.render_transcript(result, params)
    if mime == "application/json":
        return svc_json(answer)
    return _with_id(Response(answer, mimetype=mime))


@blp.route("/v1/audio/transcriptions", methods=["POST"])
@requires(blp, "submit", errors=errors.DOC)
@blp.doc(summary="Speech to text (OpenAI-compatible; long audio is chunked)")
def create_transcription():
    return _transcription("transcribe")


@blp.route("/v1/audio/translations", methods=["POST"])
@requires(blp, "submit", errors=errors.DOC)
@blp.doc(summary="Speech to English text (OpenAI-compatible)")
def create_translation():
    return _transcription("translate")


@blp.route("/v1/audio/speech", methods=["POST"])
@requires(blp, "submit", errors=errors.DOC)
@blp.doc(summary="Text to speech, streamed (OpenAI-compatible)")
def create_speech():
    svc, who, cfg = services(), tenant(), tenant_cfg()
    params = audio.parse_speech(_json_body(), cfg)
    _note(characters=len(params["input"]), format=params["format"])
    usage = {"characters": len(params["input"])}
    if _ran_on("speak") == "api" and len(params["input"]) <= int(
            cfg["TTS_MAX_PIECE_CHARS"]):
        provider = svc.providers.get("speech")
        body = {"model": provider.model, "input": params["input"], "voice": params["voice"],
                "response_format": params["format"], "speed": params["speed"]}
        if params["instructions"]:
            body["instructions"] = params["instructions"]
        with _watched():
            resp = passthrough.open_call(provider, "/audio/speech", body, stream=True)
        records.count(svc, who, "speech", {"model": provider.model, "usage": usage})
        chunks = passthrough.relay(resp, lambda tail: None)
        return _with_id(Response(stream_with_context(chunks), content_type=resp.headers.get(
            "content-type", params["content_type"])))
    meta, data = calls.run(svc, "speak", who, params, [], _gone)
    records.count(svc, who, "speech", meta)
    return _with_id(Response(passthrough.pieces(data or b""), content_type=params["content_type"]))


# -- models --------------------------------------------------------------------------------------
def _models() -> list[dict[str, Any]]:
    from mmservice.providers.registry import describe

    seen: dict[str, dict[str, Any]] = {}
    for cap, d in describe(services().cfg).items():
        if d.get("model") and d.get("available", True):
            seen.setdefault(d["model"], {"id": d["model"], "object": "model", "created": 0,
                                         "owned_by": f"mmservice:{d['provider']}",
                                         "mmservice": {"capabilities": []}})
            seen[d["model"]]["mmservice"]["capabilities"].append(cap)
    return list(seen.values())


@blp.route("/v1/models", methods=["GET"])
@requires(blp, "read", errors=errors.DOC)
@blp.doc(summary="The models the configured providers serve (OpenAI-compatible)")
def list_models():
    return svc_json({"object": "list", "data": _models()})


@blp.route("/v1/models/<path:model>", methods=["GET"])
@requires(blp, "read", errors=errors.DOC)
@blp.doc(summary="One model the configured providers serve (OpenAI-compatible)")
def retrieve_model(model: str):
    for m in _models():
        if m["id"] == model:
            return svc_json(m)
    raise MMSError(f"The model '{model}' does not exist", code="model_not_found",
                   field="model", status=404)


