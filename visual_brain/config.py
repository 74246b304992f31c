"""Visual Brain settings, read from ``VISUAL_BRAIN_*`` environment variables.

The orchestrator flattens ``settings.visual_brain`` of services.yaml into these
variables (``port`` -> ``VISUAL_BRAIN_PORT``, ``redis.url`` -> ``VISUAL_BRAIN_REDIS__URL``)
and sets ``ZYRON_ENV``; running the service by hand takes the same variables.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SECRET_KEY = re.compile(r"password|secret|token|api_key|apikey|credential", re.IGNORECASE)
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?=@)", re.IGNORECASE
)
MASK = "********"


class RedisSettings(BaseModel):
    url: str = "redis://127.0.0.1:6390/0"
    key_prefix: str = Field("vb", description="namespace of every key the queue writes")
    connect_timeout_s: float = Field(2.0, gt=0)


class JobSettings(BaseModel):
    concurrency: int = Field(
        1, ge=0, le=64, description="jobs run at once by this instance; 0: accept jobs, run none"
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_pixels: int = Field(50_000_000, ge=1, description="largest accepted image (width*height)")
    result_ttl_s: int = Field(
        7 * 24 * 3600, ge=0, description="keep finished jobs this long; 0 keeps them"
    )
    heartbeat_s: float = Field(2.0, gt=0, description="worker liveness heartbeat period")


class ModelEntry(BaseModel):
    """One entry of the model registry. Weights are never downloaded by the service."""

    name: str
    kind: str
    weights: str = Field(
        description="path of the weights file, relative to models_dir unless absolute"
    )
    description: str | None = None


class GpuSettings(BaseModel):
    required: bool = Field(False, description="deep health fails without a usable GPU")
    cache_s: float = Field(30.0, ge=0, description="how long a detection result is reused")


def _default_models() -> list[ModelEntry]:
    return [
        ModelEntry(
            name="clip-vit-b32",
            kind="embedding",
            weights="clip-vit-b32/model.safetensors",
            description="image embeddings (not yet integrated)",
        )
    ]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="VISUAL_BRAIN_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    env: str = Field("dev", validation_alias=AliasChoices("ZYRON_ENV", "VISUAL_BRAIN_ENV"))
    host: str = "127.0.0.1"
    port: int = Field(8710, ge=1, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    debug: bool = False
    api_key: SecretStr | None = Field(None, description="when set, /v1/jobs needs X-API-Key")
    redis: RedisSettings = Field(default_factory=RedisSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    gpu: GpuSettings = Field(default_factory=GpuSettings)
    models_dir: Path = Path("models")
    models: list[ModelEntry] = Field(default_factory=_default_models)

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # services.yaml's `api_key: null` arrives as an empty variable: no key.
        return None if value == "" else value

    def masked(self) -> dict[str, Any]:
        """The effective settings as JSON data, with every secret masked."""
        return mask_secrets(self.model_dump(mode="json"))


def mask_secrets(data: Any, key: str = "") -> Any:
    """Mask secret-looking keys, ``SecretStr`` fields and passwords inside URLs."""
    if isinstance(data, dict):
        return {k: mask_secrets(v, k) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_secrets(v, key) for v in data]
    if isinstance(data, str):
        if _SECRET_KEY.search(key) and data:
            return MASK
        return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, data)
    if data is not None and _SECRET_KEY.search(key):
        return MASK
    return data


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
