"""The moderator page at `/review`: server-rendered, keyboard-first, offline, blurred by default.

Why its own small JSON endpoints (`/review/api/...`) and not `/v1/review` from the browser: the
page holds a session cookie, never a key; these endpoints take the cookie and a CSRF header and
call the very functions the API calls (`mmservice.review.actions`, `decisions`, `wellness`).
Templates and script are files of this package: no build step, no CDN, works with the network
off. Every route is `public` to the key guard: the session is this module's own check.
"""
from __future__ import annotations

import hmac
import os
import secrets
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
)

from mmservice import audit
from mmservice.api.context import services
from mmservice.auth.scopes import public
from mmservice.errors import Forbidden, Invalid, NotFound, Unauthorized
from mmservice.jobs.media_source import job_media
from mmservice.review import actions, decisions, items, stats, wellness
from mmservice.review import sessions as sess
from mmservice.review.context import Ctx
from mmservice.schemas.review import QUEUE_NAME, DecisionInSchema, LeaseTokenSchema
from mmservice.video.sheet import sheet_key

bp = Blueprint("review_page", __name__, url_prefix="/review", template_folder="templates")
STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_FILES = ("review.css", "review.js")
_DECISION = DecisionInSchema()
_TOKEN = LeaseTokenSchema()
# The page's own headers: no framing, no inline scripts, nothing from elsewhere.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob:; media-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
}


@bp.after_request
def _headers(resp: Response) -> Response:
    for k, v in SECURITY_HEADERS.items():
        resp.headers.setdefault(k, v)
    return resp


def _session() -> dict | None:
    svc = services()
    return sess.get(svc.redis, svc.store.keys, svc.auth.keys, request.cookies.get(sess.COOKIE))


def _require(json_api: bool = True) -> tuple[Ctx, dict]:
    """The session's context; POSTs must carry its CSRF token (header or form field)."""
    s = _session()
    if s is None:
        raise Unauthorized("log in at /review with a review-scoped API key")
    if request.method == "POST":
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf") or ""
        if not hmac.compare_digest(sent, s["csrf"]):
            raise Forbidden("missing or wrong CSRF token", code="csrf_failed")
    g.review_session = s
    return Ctx(services().deps, s["tenant"]), s


def _queue(name: str) -> str:
    try:
        QUEUE_NAME(name)
    except Exception:  # noqa: BLE001 - marshmallow's ValidationError
        raise Invalid("bad queue name", code="invalid_queue", field="queue") from None
    return name


@bp.route("/static/<name>", methods=["GET"])
@public
def static_file(name: str):
    """The page's own stylesheet and script (no CDN: the page works offline)."""
    if name not in STATIC_FILES:
        abort(404)
    return send_from_directory(STATIC_DIR, name, max_age=300)


@bp.route("", methods=["GET"])
@public
def home():
    s = _session()
    if s is None:
        token = secrets.token_urlsafe(24)
        resp = Response(render_template("review/login.html", csrf=token, error=None))
        resp.set_cookie(sess.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict",
                        path="/review")
        return resp
    ctx = Ctx(services().deps, s["tenant"])
    return render_template("review/queues.html", queues=stats.queues(ctx), session=s,
                           exposure=wellness.exposure(ctx, s["reviewer"]))


@bp.route("/login", methods=["POST"])
@public
def login():
    """The key arrives in the form body (never a URL) and is not kept; a session cookie is."""
    svc = services()
    cookie = request.cookies.get(sess.LOGIN_CSRF_COOKIE) or ""
    sent = request.form.get("csrf") or ""
    if not cookie or not hmac.compare_digest(cookie, sent):
        raise Forbidden("the login form expired: reload /review", code="csrf_failed")
    key = svc.auth.keys.verify((request.form.get("key") or "").strip())
    if key is None or "review" not in key.scopes:
        from mmservice.auth import events

        events.refused(svc.redis, svc.store.keys, "unauthorized" if key is None else
                       "forbidden", source=request.remote_addr or "", path=request.path,
                       tenant=key.tenant if key else None, key_prefix=key.prefix if key else "")
        token = secrets.token_urlsafe(24)
        resp = Response(render_template("review/login.html", csrf=token,
                                        error="That key is unknown, expired, or lacks the "
                                              "review scope."), status=401)
        resp.set_cookie(sess.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict",
                        path="/review")
        return resp
    sid = sess.create(svc.redis, svc.store.keys, key, int(svc.cfg["REVIEW_SESSION_TTL_S"]))
    audit.append(svc.redis, svc.store.keys, key.tenant, {
        "type": "review.login", "actor": key.prefix, "source": request.remote_addr or ""})
    done: Any = redirect("/review", code=303)
    done.set_cookie(sess.COOKIE, sid, httponly=True, samesite="Strict", path="/review",
                    max_age=int(svc.cfg["REVIEW_SESSION_TTL_S"]))
    done.delete_cookie(sess.LOGIN_CSRF_COOKIE, path="/review")
    return done


@bp.route("/logout", methods=["POST"])
@public
def logout():
    _require()
    svc = services()
    sess.end(svc.redis, svc.store.keys, request.cookies.get(sess.COOKIE))
    resp = redirect("/review", code=303)
    resp.delete_cookie(sess.COOKIE, path="/review")
    return resp


@bp.route("/q/<queue>", methods=["GET"])
@public
def queue_page(queue: str):
    s = _session()
    if s is None:
        return redirect("/review", code=303)
    return render_template("review/item.html", queue=_queue(queue), session=s)


@bp.route("/api/queues/<queue>/next", methods=["POST"])
@public
def api_next(queue: str):
    ctx, s = _require()
    got = actions.next_item(ctx, _queue(queue), s["reviewer"])
    item = got["item"]
    if item is not None:
        item["prior_decisions"] = items.prior_decisions(ctx, item)
    return jsonify({"item": item, "exposure": got["exposure"]})


def _body(schema: Any) -> dict:
    return schema.load(request.get_json(silent=True, force=True) or {})


@bp.route("/api/<item_id>/decision", methods=["POST"])
@public
def api_decide(item_id: str):
    ctx, s = _require()
    item, decision, _ = decisions.decide(ctx, item_id, _body(_DECISION), s["reviewer"])
    return jsonify({"item": items.public(item), "decision": decisions.public_decision(decision)})


@bp.route("/api/<item_id>/skip", methods=["POST"])
@public
def api_skip(item_id: str):
    ctx, s = _require()
    actions.skip(ctx, item_id, _body(_TOKEN).get("lease_token") or "", s["reviewer"])
    return jsonify({"ok": True})


@bp.route("/api/<item_id>/renew", methods=["POST"])
@public
def api_renew(item_id: str):
    ctx, _ = _require()
    return jsonify({"ok": True, "expires_in_s": actions.renew(
        ctx, item_id, _body(_TOKEN).get("lease_token") or "")})


@bp.route("/api/<item_id>/reveal", methods=["POST"])
@public
def api_reveal(item_id: str):
    ctx, s = _require()
    return jsonify({"ok": True, **wellness.reveal(ctx, item_id, s["reviewer"])})


@bp.route("/api/<item_id>/media", methods=["GET"])
@public
def api_media(item_id: str):
    """The item's image or audio from its job's blob, or a video's contact sheet (same origin,
    never cached)."""
    ctx, _ = _require()
    item = items.get(ctx, item_id)
    content = item.get("content") or {}
    if content.get("kind") not in ("image", "audio", "video"):
        abort(404)
    try:
        job = ctx.deps.store.get(ctx.tenant, content["job_id"])
        if content["kind"] == "video":  # its contact sheet: never the video, never autoplay
            return Response(ctx.deps.blobs.get(sheet_key(job)), mimetype="image/jpeg")
        if not job.get("_blob"):
            raise KeyError("_blob")  # a remote image never fetched: the page fetches nothing
        data = job_media(job, ctx.deps)
    except Exception:  # noqa: BLE001 - expired job, deleted blob: the same answer
        raise NotFound("the item's media is gone (its job expired or was deleted)",
                       code="media_gone") from None
    return Response(data, mimetype=content.get("mime") or "application/octet-stream")


@bp.route("/api/<item_id>/audit", methods=["GET"])
@public
def api_audit(item_id: str):
    """The audit entries about one item (what the reviewer and others did with it)."""
    ctx, _ = _require()
    items.get(ctx, item_id)
    return jsonify({"data": audit.read(ctx.r, ctx.keys, ctx.tenant, item=item_id,
                                       limit=200)})
