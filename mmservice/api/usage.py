"""`GET /v1/usage?day=YYYY-MM-DD`: one tenant's upstream usage for one UTC day.

Why a read of counters: what a day of moderation costs on each upstream (tokens, audio seconds,
images, requests) is the number teams budget with; jobs expire, counters stay (accounting.py).
"""
from __future__ import annotations

import datetime as dt

from flask import request
from flask_smorest import Blueprint

from mmservice.accounting import read_usage, today
from mmservice.api import examples
from mmservice.api.context import services, tenant
from mmservice.auth.scopes import requires
from mmservice.errors import Invalid
from mmservice.schemas.ops_output import UsageSchema
from mmservice.schemas.output import ApiErrorSchema

bp = Blueprint("usage", __name__, description="Usage accounting")


@bp.get("/v1/usage")
@requires(bp, "read")
@bp.doc(summary="This tenant's upstream usage for one UTC day",
        parameters=[{"in": "query", "name": "day", "schema": {"type": "string", "format": "date"},
                     "description": "YYYY-MM-DD (default: today, UTC)"}])
@bp.response(200, UsageSchema, example=examples.USAGE)
@bp.alt_response(422, schema=ApiErrorSchema, example=examples.error("invalid_day"))
def usage():
    svc = services()
    day = request.args.get("day") or today()
    try:
        if len(day) != 10:
            raise ValueError(day)
        dt.date.fromisoformat(day)
    except ValueError:
        raise Invalid(f"day must be a date as YYYY-MM-DD, got {day[:40]!r}", code="invalid_day",
                      field="day") from None
    who = tenant()
    return {"object": "usage", "tenant": who, "day": day,
            **read_usage(svc.redis, who, day, svc.store.keys)}
