"""Baseline 1: the bare stack. A Flask endpoint that takes a multipart upload, writes it to Redis
and LPUSHes an id: what any intake on Flask + Redis must at least do. Served by the benchmark
under exactly the gunicorn flags the API gets (`gunicorn bench.bare_app:app -w 2 --threads 16`).

No validation, no schema, no blob store, no job record, no Celery: the difference to
`POST /v1/jobs` is mmservice's overhead.
"""
from __future__ import annotations

import os
import uuid

import redis
from flask import Flask, jsonify, request

app = Flask(__name__)
_r = redis.Redis.from_url(os.environ.get("MMS_REDIS_URL", "redis://127.0.0.1:6379/0"),
                          socket_timeout=5, socket_connect_timeout=2)
TTL_S = 600


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@app.post("/upload")
def upload():
    f = request.files.get("file")
    if f is None:
        return jsonify({"error": "no file"}), 400
    data = f.read()
    upload_id = uuid.uuid4().hex
    _r.set(f"bare:upload:{upload_id}", data, ex=TTL_S)
    _r.lpush("bare:queue", upload_id)
    return jsonify({"id": upload_id, "bytes": len(data)}), 202
