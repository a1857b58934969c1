"""Flask's JSON provider on orjson (`mmservice.jsonwire`): `jsonify` and every flask-smorest
response. Keeps the default provider's ways where they are asked for (keyword arguments, debug
indentation, sorted keys; what orjson cannot write); requests are read by the stdlib (see
`jsonwire.loads`); dates, UUIDs, decimals and dataclasses get Flask's own conversions."""
from __future__ import annotations

from typing import Any

import orjson
from flask import Response
from flask.json.provider import DefaultJSONProvider
from flask.json.provider import _default as _flask_default

from mmservice.jsonwire import OPTIONS, builtin


def _for_flask(o: Any) -> Any:
    try:
        return builtin(o)
    except TypeError:
        return _flask_default(o)


class FlaskJSON(DefaultJSONProvider):
    sort_keys = False

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        if kwargs or self.sort_keys:
            return super().dumps(obj, **kwargs)
        try:
            return orjson.dumps(obj, default=_for_flask, option=OPTIONS).decode()
        except orjson.JSONEncodeError:  # a lone surrogate, an int beyond 64 bits
            return super().dumps(obj)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        if (self.compact is None and self._app.debug) or self.compact is False \
                or self.sort_keys:
            return super().response(*args, **kwargs)
        obj = self._prepare_response_obj(args, kwargs)
        try:
            body = orjson.dumps(obj, default=_for_flask,
                                option=OPTIONS | orjson.OPT_APPEND_NEWLINE)
        except orjson.JSONEncodeError:
            return super().response(*args, **kwargs)
        return Response(body, mimetype=self.mimetype)
