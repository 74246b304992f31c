"""Masking of values whose key looks secret, at any depth and inside environment lists."""

from __future__ import annotations

import pytest

from dev_orchestrator.config.secrets import MASK, is_secret_key, mask_secrets


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "DB_PASSWORD",
        "passwd",
        "client_secret",
        "SECRET_KEY",
        "token",
        "API_TOKEN",
        "api_key",
        "apikey",
        "ApiKey",
        "private_key",
        "privatekey",
        "credentials",
        "AWS_CREDENTIAL_FILE",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["url", "port", "user", "keyboard", "api", "host", "name", "key"])
def test_ordinary_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_masks_at_any_depth() -> None:
    data = {
        "settings": {"db": {"url": "postgres://x", "password": "hunter2"}, "token": "t"},
        "port": 1,
    }
    assert mask_secrets(data) == {
        "settings": {"db": {"url": "postgres://x", "password": MASK}, "token": MASK},
        "port": 1,
    }


def test_masks_everything_below_a_secret_key() -> None:
    data = {"credentials": {"user": "u", "pass": "p", "list": ["a", 1], "empty": ""}}
    assert mask_secrets(data) == {"credentials": {"user": MASK, "pass": MASK, "list": [MASK, MASK], "empty": ""}}


def test_masks_numbers_and_booleans_but_keeps_empty_values() -> None:
    assert mask_secrets({"pin_token": 1234, "secret": True, "password": None, "api_key": ""}) == {
        "pin_token": MASK,
        "secret": MASK,
        "password": None,
        "api_key": "",
    }


def test_masks_environment_maps_and_lists() -> None:
    service = {
        "environment": {"API_TOKEN": "abc", "LOG_LEVEL": "info"},
        "docker": {"environment": ["DB_PASSWORD=hunter2", "MODE=prod", "SECRET_KEY", "TOKEN="]},
    }
    assert mask_secrets(service) == {
        "environment": {"API_TOKEN": MASK, "LOG_LEVEL": "info"},
        "docker": {"environment": [f"DB_PASSWORD={MASK}", "MODE=prod", "SECRET_KEY", "TOKEN="]},
    }


def test_list_items_that_are_not_assignments_are_kept() -> None:
    command = ["run", "--password-file=/run/pw", "a=b c", "x password=1"]
    assert mask_secrets({"command": command}) == {"command": command}


def test_input_is_not_changed() -> None:
    data = {"password": "p", "nested": {"token": "t"}}
    mask_secrets(data)
    assert data == {"password": "p", "nested": {"token": "t"}}
