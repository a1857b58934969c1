"""`GET /docs`: the interactive API docs (Swagger UI), served entirely by this service.

Why local assets: the viewer used to load from a CDN, so with no network (the setting this
service is built for) `/docs` was a blank page. Swagger UI's built files come in the
`swagger-ui-bundle` wheel (Apache-2.0, its licence in the wheel's metadata), pinned in
requirements.txt; this blueprint serves the few files the page loads under `/docs/assets/`, and
flask-smorest renders the page itself at `/docs` pointing there.

Why an allow-list and not the whole folder: the wheel also carries source maps and demo pages
that nobody needs (several MB each); anything else answers the usual JSON 404.

Why `validatorUrl: null`: Swagger UI would otherwise send the document's URL to
validator.swagger.io for a badge, a third-party call the offline page must not make.
"""
from __future__ import annotations

from flask import Blueprint, abort, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from mmservice.auth.scopes import public

ASSETS_URL = "/docs/assets/"
ASSETS = frozenset({
    "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
    "favicon-16x16.png", "favicon-32x32.png",
})

bp = Blueprint("docs_assets", __name__)


def settings() -> dict:
    """The flask-smorest settings that put Swagger UI at `/docs` on the assets served here."""
    return {
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": ASSETS_URL,
        "OPENAPI_SWAGGER_UI_CONFIG": {"validatorUrl": None, "deepLinking": True},
    }


@bp.get(ASSETS_URL + "<name>")
@public
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(str(swagger_ui_path), name)
