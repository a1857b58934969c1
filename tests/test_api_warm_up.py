"""An API process builds its upstream providers when it starts (`Registry.warm_upstreams`), so
no first request pays the openai client's import; a capability whose upstream settings are
refused does not stop the API from starting, and its requests still say why."""
from __future__ import annotations

import pytest

from mmservice import create_app
from mmservice.errors import CapabilityUnavailable


def test_upstream_providers_are_built_at_start_and_local_ones_never(base_cfg, tmp_path):
    app = create_app({**base_cfg, "BLOB_DIR": str(tmp_path), "SPEECH_PROVIDER": "local"})
    built = app.extensions["mms"].providers._built
    assert {"moderation", "vision", "transcription"} <= set(built)
    assert "speech" not in built  # local: the API process never loads a model


def test_a_refused_upstream_leaves_start_up_alone_and_answers_its_error(base_cfg, tmp_path):
    # DeepSeek serves no /v1/audio/transcriptions: refused before any call.
    cfg = {**base_cfg, "BLOB_DIR": str(tmp_path), "TRANSCRIPTION_KIND": "deepseek"}
    app = create_app(cfg)
    providers = app.extensions["mms"].providers
    assert "transcription" not in providers._built and "moderation" in providers._built
    with pytest.raises(CapabilityUnavailable, match="does not serve /v1/audio/transcriptions"):
        providers.get("transcription")  # what its requests are answered
