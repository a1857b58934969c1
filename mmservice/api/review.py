"""`/v1/review`: the moderation queue for reviewers (`review` scope) and its settings (`admin`).

Why thin: claiming, deciding and appealing live in `mmservice.review` (the `/review` page calls
the same functions); a view parses, names the reviewer (the key's id), calls and answers.
"""
from __future__ import annotations

from flask import Response, g
from flask_smorest import Blueprint

from mmservice.api.context import services, tenant
from mmservice.auth.scopes import requires
from mmservice.errors import Invalid
from mmservice.review import actions, appeals, bulk, decisions, items, routing, stats, wellness
from mmservice.review.context import Ctx
from mmservice.schemas.output import ApiErrorSchema
from mmservice.schemas.review import (
    QUEUE_NAME,
    AppealInSchema,
    BulkInSchema,
    BulkOutSchema,
    DecisionInSchema,
    DecisionOutSchema,
    LeaseTokenSchema,
    MetricsSchema,
    OkSchema,
    QueueListSchema,
    ReviewItemSchema,
    RoutingSchema,
)

bp = Blueprint("review", __name__, url_prefix="/v1/review",
               description="Human review: queues, leases, decisions, appeals")


def ctx() -> Ctx:
    return Ctx(services().deps, tenant())


def actor() -> str:
    key = g.get("key")
    return key.prefix if key is not None else "auth-disabled"


def is_admin() -> bool:
    key = g.get("key")
    return key is None or "admin" in key.scopes


def _queue(name: str) -> str:
    try:
        QUEUE_NAME(name)
    except Exception:  # noqa: BLE001 - marshmallow's ValidationError, answered as ours
        raise Invalid("a queue name is 1-64 of a-z, 0-9, `_`, `.`, `-`", code="invalid_queue",
                      field="queue") from None
    return name


@bp.route("/queues", methods=["GET"])
@requires(bp, "review")
@bp.doc(summary="The tenant's review queues: depth, oldest item's age, SLA")
@bp.response(200, QueueListSchema)
def list_queues():
    return {"data": stats.queues(ctx())}


@bp.route("/queues/<queue>/next", methods=["POST"])
@requires(bp, "review")
@bp.doc(summary="Lease the best item of a queue to the caller (204: nothing to review now)",
        description="The answer carries `lease.token` (also `lease_token`): send it with the "
                    "decision. Never the same item to two callers; never an item the caller "
                    "skipped or whose decision they made (appeals); past the caller's exposure "
                    "cap, milder items only (`exposure.capped`).")
@bp.response(200, ReviewItemSchema)
@bp.alt_response(204, description="no item for this caller now")
def next_item(queue: str):
    got = actions.next_item(ctx(), _queue(queue), actor())
    if got["item"] is None:
        return Response(status=204)
    return got["item"]


@bp.route("/metrics", methods=["GET"])
@requires(bp, "review")
@bp.doc(summary="Queue depth and age, time to decision, lease expiries, overturn and "
                "agreement rates")
@bp.response(200, MetricsSchema)
def review_metrics():
    return stats.summary(ctx())


@bp.route("/routing", methods=["GET"])
@requires(bp, "admin")
@bp.doc(summary="The routing rules (first match) and queue settings")
@bp.response(200, RoutingSchema)
def get_routing():
    return routing.load(ctx())


@bp.route("/routing", methods=["PUT"])
@requires(bp, "admin")
@bp.doc(summary="Replace the routing rules and queue settings (new items only)")
@bp.arguments(RoutingSchema)
@bp.response(200, RoutingSchema)
@bp.alt_response(422, schema=ApiErrorSchema)
def put_routing(body):
    c = ctx()
    before = routing.load(c)
    routing.save(c, body)
    c.audit({"type": "review.routing", "actor": actor(), "before": before, "after": body})
    return body


@bp.route("/bulk", methods=["POST"])
@requires(bp, "admin")
@bp.doc(summary="Decide every open item a filter takes: without `confirm_count` only count; "
                "with the count, apply")
@bp.arguments(BulkInSchema)
@bp.response(200, BulkOutSchema)
@bp.alt_response(409, schema=ApiErrorSchema)
@bp.alt_response(422, schema=ApiErrorSchema)
def bulk_decide(body):
    return bulk.run(ctx(), body, actor())


@bp.route("/<review_id>", methods=["GET"])
@requires(bp, "review")
@bp.doc(summary="One review item with its history, decisions and current lease holder")
@bp.response(200, ReviewItemSchema)
@bp.alt_response(404, schema=ApiErrorSchema)
def get_item(review_id: str):
    c = ctx()
    return actions.view(c, items.get(c, review_id))


@bp.route("/<review_id>/decision", methods=["POST"])
@requires(bp, "review")
@bp.doc(summary="Decide a leased item: approve | reject | escalate (appeals: uphold | overturn)",
        description="Idempotent on the lease token: the same token and decision again answers "
                    "the first decision; a token that is not the current lease is 409 "
                    "`lease_stale`. A final decision sets the jobs' `final_verdict` and emits "
                    "`review.decided` (`appeal.decided`).")
@bp.arguments(DecisionInSchema)
@bp.response(200, DecisionOutSchema)
@bp.alt_response(404, schema=ApiErrorSchema)
@bp.alt_response(409, schema=ApiErrorSchema)
@bp.alt_response(422, schema=ApiErrorSchema)
def decide(body, review_id: str):
    c = ctx()
    item, decision, _ = decisions.decide(c, review_id, body, actor())
    return {"item": actions.view(c, item), "decision": decisions.public_decision(decision)}


@bp.route("/<review_id>/renew", methods=["POST"])
@requires(bp, "review")
@bp.doc(summary="Renew the caller's lease for another lease period")
@bp.arguments(LeaseTokenSchema)
@bp.response(200, OkSchema)
@bp.alt_response(409, schema=ApiErrorSchema)
def renew(body, review_id: str):
    return {"ok": True, "item_id": review_id,
            "expires_in_s": actions.renew(ctx(), review_id, body.get("lease_token") or "")}


@bp.route("/<review_id>/release", methods=["POST"])
@requires(bp, "review")
@bp.doc(summary="Give a leased item back (the holder with its token; an admin without)")
@bp.arguments(LeaseTokenSchema)
@bp.response(200, OkSchema)
@bp.alt_response(403, schema=ApiErrorSchema)
@bp.alt_response(409, schema=ApiErrorSchema)
def release(body, review_id: str):
    actions.release(ctx(), review_id, body.get("lease_token"), actor(), is_admin())
    return {"ok": True, "item_id": review_id}


@bp.route("/<review_id>/skip", methods=["POST"])
@requires(bp, "review")
@bp.doc(summary="Give a leased item back and never be offered it again")
@bp.arguments(LeaseTokenSchema)
@bp.response(200, OkSchema)
@bp.alt_response(409, schema=ApiErrorSchema)
def skip(body, review_id: str):
    actions.skip(ctx(), review_id, body.get("lease_token") or "", actor())
    return {"ok": True, "item_id": review_id}


@bp.route("/<review_id>/reveal", methods=["POST"])
@requires(bp, "review")
@bp.doc(summary="Record that the caller unblurred the item's media (an audit entry)")
@bp.response(200, OkSchema)
@bp.alt_response(404, schema=ApiErrorSchema)
def reveal(review_id: str):
    return {"ok": True, **wellness.reveal(ctx(), review_id, actor())}


@bp.route("/<review_id>/appeal", methods=["POST"])
@requires(bp, "submit")
@bp.doc(summary="Appeal a decision (once, within the tenant's window): reopened in the "
                "appeals queue, never offered to the reviewer who decided it")
@bp.arguments(AppealInSchema)
@bp.response(201, ReviewItemSchema)
@bp.alt_response(404, schema=ApiErrorSchema)
@bp.alt_response(409, schema=ApiErrorSchema)
def appeal(body, review_id: str):
    c = ctx()
    return actions.view(c, appeals.appeal(c, review_id, body, actor()))
