"""Backend settings, read from ``BACKEND_*`` environment variables.

``settings.backend`` of services.yaml arrives flattened: ``database.url`` is
``BACKEND_DATABASE__URL``, ``visual_brain.url`` is ``BACKEND_VISUAL_BRAIN__URL``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseModel):
    url: str = Field(
        "sqlite:///data/zyron-dev.db",
        description="SQLAlchemy URL: a SQLite file in dev, postgresql+psycopg://... elsewhere",
    )
    echo: bool = False
    connect_timeout_s: float = Field(5.0, gt=0)
    migrate_wait_s: float = Field(30.0, ge=0, description="how long migrate waits for the database")


class VisualBrainLink(BaseModel):
    url: str = "http://127.0.0.1:8710"
    timeout_s: float = Field(10.0, gt=0)
    api_key: SecretStr | None = None

    @field_validator("api_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value


class BackendSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BACKEND_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    env: str = Field("dev", validation_alias=AliasChoices("ZYRON_ENV", "BACKEND_ENV"))
    host: str = "127.0.0.1"
    port: int = Field(8700, ge=1, le=65535)
    log_level: Literal["critical", "error", "warning", "info", "debug", "trace"] = "info"
    debug: bool = False
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8720", "http://localhost:8720"]
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    visual_brain: VisualBrainLink = Field(default_factory=VisualBrainLink)
    frontend_url: str | None = Field(None, description="probed by /api/status when set")

    @field_validator("frontend_url", mode="before")
    @classmethod
    def _no_frontend(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


@lru_cache(maxsize=1)
def get_settings() -> BackendSettings:
    return BackendSettings()
