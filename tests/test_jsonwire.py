"""The orjson writer of records and responses (`mmservice.jsonwire`, `api.json_provider`) reads
back exactly what the stdlib would, including what orjson cannot write itself; and through the
API, a job whose metadata holds such values is stored and answered unchanged."""
from __future__ import annotations

import enum
import json
from datetime import UTC, datetime

import pytest

from mmservice import jsonwire


class Level(enum.IntEnum):
    HIGH = 3


class Kind(enum.StrEnum):
    TEXT = "text"


class Score(float):
    pass


VALUES = [
    {"id": "job_1", "scores": {"harassment": 1e-05, "hate": 0.123456789012345, "x": 0.0},
     "nested": [{"a": [1, 2, {"b": None}]}, True, False], "text": "héllo ✓ 日本 \u0000 \"q\""},
    {"tuple": (1, 2), 3: "int key", "neg": -0.5, "big": 2 ** 63 - 1},
    {"lone surrogate": "a\ud800b", "huge int": 123456789012345678901234567890},
    {"int enum": Level.HIGH, "str enum": Kind.TEXT, "float subclass": Score(0.25)},
]


@pytest.mark.parametrize("value", VALUES)
def test_reads_back_what_the_stdlib_reads_back(value):
    expected = json.loads(json.dumps(value))
    assert jsonwire.loads(jsonwire.dumps(value)) == expected
    assert json.loads(jsonwire.dumps(value).decode()) == expected


def test_huge_ints_and_lone_surrogates_stay_exact():
    back = jsonwire.loads(jsonwire.dumps(VALUES[2]))
    assert back["huge int"] == 123456789012345678901234567890
    assert isinstance(back["huge int"], int)
    assert back["lone surrogate"] == "a\ud800b"


@pytest.mark.parametrize("value", [datetime.now(UTC), {1, 2}, object(), b"bytes"])
def test_refuses_what_the_stdlib_refuses(value):
    with pytest.raises(TypeError):
        json.dumps(value)
    with pytest.raises(TypeError):
        jsonwire.dumps({"v": value})


def test_flask_answers_dates_as_flask_does_and_keeps_debug_indentation():
    from flask import Flask, jsonify

    from mmservice.api.json_provider import FlaskJSON

    app = Flask(__name__)
    app.json = FlaskJSON(app)
    when = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)
    with app.app_context():
        body = jsonify({"at": when, "b": 1, "a": "✓"}).get_data()
        assert json.loads(body) == {"at": "Fri, 04 Dec 2026 21:00:00 GMT", "b": 1, "a": "✓"}
        assert body.endswith(b"\n") and list(json.loads(body)) == ["at", "b", "a"]
        odd = jsonify({"s": "a\ud800", "n": 10 ** 30}).get_data()
        assert json.loads(odd) == {"s": "a\ud800", "n": 10 ** 30}
        app.debug = True
        assert b'\n  "b": 1' in jsonify({"b": 1}).get_data()


def test_a_job_with_such_metadata_is_stored_and_answered_exactly(client):
    raw = ('{"text": "plain words", "metadata": {"n": 123456789012345678901234567890, '
           '"s": "x\\ud800y", "u": "caf\\u00e9"}}')
    r = client.post("/v1/jobs", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code in (200, 202), r.text
    want = {"n": 123456789012345678901234567890, "s": "x\ud800y", "u": "café"}
    assert json.loads(r.content)["metadata"] == want
    job_id = json.loads(r.content)["id"]
    got = client.get(f"/v1/jobs/{job_id}")
    assert got.status_code == 200
    assert json.loads(got.content)["metadata"] == want
