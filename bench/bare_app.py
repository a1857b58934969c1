"""Baseline 1: the bare stack. A Flask endpoint that takes a multipart upload, writes it to Redis
and LPUSHes an id: what any intake on Flask + Redis must at least do. Served by the benchmark
under exactly the gunicorn flags the API gets (`gunicorn bench.bare_app:app -w 2 --threads 32`).

No validation, no schema, no blob store, no job record, no Celery: the difference to
`POST /v1/jobs` is mmservice's overhead.

With `MMS_BLOB_URL=s3://bucket` (and the `MMS_S3_*` endpoint and credentials) the upload goes to
that S3 server with one `obstore.put` instead of into Redis: the bare stack of an intake that
keeps uploads in S3 (issue 20), against which the S3 server's own cost on a shared machine cancels.
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
_BLOB_URL = os.environ.get("MMS_BLOB_URL", "")
_s3 = None
if _BLOB_URL.startswith("s3://"):
    import obstore
    from obstore.store import S3Store

    _s3 = S3Store(_BLOB_URL[5:].split("/")[0], endpoint=os.environ["MMS_S3_ENDPOINT_URL"],
                  region=os.environ.get("MMS_S3_REGION", "us-east-1"),
                  access_key_id=os.environ["MMS_S3_ACCESS_KEY_ID"],
                  secret_access_key=os.environ["MMS_S3_SECRET_ACCESS_KEY"],
                  client_options={"allow_http": True}, virtual_hosted_style_request=False)


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
    if _s3 is not None:
        obstore.put(_s3, f"bare/{upload_id}", data, use_multipart=False)
    else:
        _r.set(f"bare:upload:{upload_id}", data, ex=TTL_S)
    _r.lpush("bare:queue", upload_id)
    return jsonify({"id": upload_id, "bytes": len(data)}), 202
