"""Visual Brain settings: variable names as the orchestrator writes them, secrets masked."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from visual_brain.config import MASK, Settings, mask_secrets
from zyron.settings_errors import settings_error


def settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for key in list(__import__("os").environ):
        if key.startswith("VISUAL_BRAIN_") or key == "ZYRON_ENV":
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(monkeypatch)
    assert (s.host, s.port, s.env) == ("127.0.0.1", 8710, "dev")
    assert s.redis.url == "redis://127.0.0.1:6390/0"
    assert s.jobs.concurrency == 1 and s.api_key is None


def test_flattened_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(
        monkeypatch,
        ZYRON_ENV="staging",
        VISUAL_BRAIN_PORT="9100",
        VISUAL_BRAIN_LOG_LEVEL="DEBUG",
        VISUAL_BRAIN_REDIS__URL="redis://cache:6379/2",
        VISUAL_BRAIN_JOBS__CONCURRENCY="4",
        VISUAL_BRAIN_GPU__REQUIRED="true",
        VISUAL_BRAIN_MODELS=json.dumps([{"name": "m", "kind": "caption", "weights": "m/w.bin"}]),
    )
    assert s.env == "staging" and s.port == 9100 and s.log_level == "debug"
    assert s.redis.url == "redis://cache:6379/2"
    assert s.jobs.concurrency == 4 and s.gpu.required is True
    assert [m.name for m in s.models] == ["m"]


def test_empty_api_key_means_none(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings(monkeypatch, VISUAL_BRAIN_API_KEY="").api_key is None


def test_masked_config_hides_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    s = settings(
        monkeypatch,
        VISUAL_BRAIN_API_KEY="k-123",
        VISUAL_BRAIN_REDIS__URL="redis://user:hunter2@cache:6379/0",
    )
    masked = s.masked()
    assert masked["api_key"] == MASK
    assert masked["redis"]["url"] == f"redis://user:{MASK}@cache:6379/0"
    assert "hunter2" not in json.dumps(masked) and "k-123" not in json.dumps(masked)


def test_mask_secrets_by_key_name() -> None:
    data = {
        "db_password": "x",
        "token": 5,
        "nested": {"client_secret": "y", "port": 1},
        "url": "http://h/",
    }
    assert mask_secrets(data) == {
        "db_password": MASK,
        "token": MASK,
        "nested": {"client_secret": MASK, "port": 1},
        "url": "http://h/",
    }


def test_invalid_settings_are_named_as_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as info:
        settings(monkeypatch, VISUAL_BRAIN_PORT="http", VISUAL_BRAIN_JOBS__CONCURRENCY="-1")
    text = settings_error("visual-brain", "VISUAL_BRAIN_", info.value)
    assert "VISUAL_BRAIN_PORT: Input should be a valid integer" in text
    assert "VISUAL_BRAIN_JOBS__CONCURRENCY: Input should be greater than or equal to 0" in text
