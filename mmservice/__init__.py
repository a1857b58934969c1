"""mmservice: content moderation and multimodal processing over HTTP.

`create_app(test_config=None)` builds the API on the composition root (`services.build`). It
validates, stores and enqueues; it never loads a model (providers are described, not built, in
this process).
"""
from __future__ import annotations

from flask import Flask

from mmservice import config as mms_config
from mmservice import logs


def create_app(test_config: dict | None = None) -> Flask:
    from flask_smorest import Api

    from mmservice.api import (
        admin,
        audit,
        deliveries,
        docs,
        errors,
        health,
        jobs,
        lists,
        metrics,
        policies,
        reports,
        review,
        usage,
        video,
    )
    from mmservice.auth import guard, scopes
    from mmservice.facade import routes as facade
    from mmservice.schemas.output import ApiErrorSchema
    from mmservice.services import build

    cfg = mms_config.load(test_config)
    guard.check_auth_setting(cfg)
    from mmservice.api import multipart_boundary

    multipart_boundary.install()  # werkzeug's form parse, its boundary found by bytes.find
    logs.setup(cfg["LOG_LEVEL"])
    app = Flask(__name__)
    logs.init_app(app)
    app.config.update(
        MAX_CONTENT_LENGTH=max(cfg["MAX_AUDIO_BYTES"], cfg["MAX_IMAGE_BYTES"],
                               cfg["MAX_VIDEO_BYTES"]) + 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=max(cfg["MAX_TEXT_CHARS"] * 4, 1024 * 1024),
        API_TITLE="mmservice", API_VERSION="v1", OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/", OPENAPI_JSON_PATH="openapi.json",
        **docs.settings(),  # Swagger UI at /docs from local assets: the docs work offline
    )
    from mmservice.api.json_provider import FlaskJSON

    app.json = FlaskJSON(app)  # orjson, insertion order kept (no sorted keys)
    app.extensions["mms"] = svc = build(cfg, role="api")
    svc.providers.warm_upstreams()  # the openai client imported now, not on a first request

    class MmsApi(Api):
        ERROR_SCHEMA = ApiErrorSchema  # errors are documented in the shape they are sent

    api = MmsApi(app)
    scopes.register_scheme(api)
    for blp in (jobs.blp, health.bp, metrics.bp, deliveries.bp, usage.bp, admin.bp,
                policies.bp, lists.bp, audit.bp, video.blp, facade.blp, review.bp,
                reports.bp):
        api.register_blueprint(blp)
    app.register_blueprint(docs.bp)  # the viewer's files: not API operations, not in the spec
    from mmservice.review import page

    app.register_blueprint(page.bp)  # the moderator page at /review (session cookie, CSRF)
    errors.register(app)
    guard.init_app(app)  # every route declares its scope (mmservice.auth.scopes)
    return app
