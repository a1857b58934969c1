"""`GET /v1/usage?day=YYYY-MM-DD`: one tenant's upstream usage for one UTC day.

Why a read of counters: what a day of moderation costs on each upstream (tokens, audio seconds,
images, requests) is the number teams budget with; jobs expire, counters stay (accounting.py).
"""
from __future__ import annotations

import datetime as dt

from flask import current_app, jsonify, request
from flask_smorest import Blueprint

from mmservice.accounting import read_usage, today
from mmservice.errors import Invalid

bp = Blueprint("usage", __name__, description="Usage accounting")


@bp.get("/v1/usage")
def usage():
    svc = current_app.extensions["mms"]
    day = request.args.get("day") or today()
    try:
        if len(day) != 10:
            raise ValueError(day)
        dt.date.fromisoformat(day)
    except ValueError:
        raise Invalid(f"day must be a date as YYYY-MM-DD, got {day[:40]!r}", code="invalid_day",
                      field="day") from None
    tenant = svc.cfg["TENANT"]
    return jsonify({"object": "usage", "tenant": tenant, "day": day,
                    **read_usage(svc.redis, tenant, day)})
