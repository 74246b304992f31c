"""Frontend settings, read from ``FRONTEND_*`` environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class FrontendSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="FRONTEND_",
        env_nested_delimiter="__",
        extra="ignore",
        populate_by_name=True,
        frozen=True,
    )

    env: str = Field("dev", validation_alias=AliasChoices("ZYRON_ENV", "FRONTEND_ENV"))
    host: str = "127.0.0.1"
    port: int = Field(8720, ge=0, le=65535, description="0 picks a free port")
    backend_url: str = Field(
        "http://127.0.0.1:8700", description="the backend as the browser reaches it"
    )
    refresh_ms: int = Field(2000, ge=250, description="how often the page polls the backend")
    title: str = "Zyron AI"
    log_requests: bool = False
    static_dir: str | None = Field(
        None, description="where the page's files are served from (default: the package's static/)"
    )


@lru_cache(maxsize=1)
def get_settings() -> FrontendSettings:
    return FrontendSettings()
