"""Backend schema migrations on a SQLite file, and backend settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect
from zyron.backend import migrate
from zyron.backend.config import BackendSettings, get_settings
from zyron.backend.db import make_engine


def test_upgrade_from_empty_then_nothing_to_do(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'z.db'}")
    assert migrate.current_version(engine) == 0
    applied = migrate.upgrade(engine)
    assert [m.version for m in applied] == [1, 2]
    assert migrate.current_version(engine) == migrate.HEAD == 2
    assert migrate.upgrade(engine) == []
    columns = {c["name"] for c in inspect(engine).get_columns("jobs")}
    assert {"id", "status", "result_width", "result_content_type"} <= columns
    engine.dispose()


def test_upgrade_from_an_older_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate.schema_migrations.create(engine)
    with engine.begin() as conn:
        migrate.MIGRATIONS[0].apply(conn)
        conn.execute(
            migrate.schema_migrations.insert().values(
                version=1, description="jobs table", applied_at=migrate.utcnow()
            )
        )
    assert migrate.current_version(engine) == 1
    assert [m.version for m in migrate.upgrade(engine)] == [2]
    engine.dispose()


def test_main_exit_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BACKEND_DATABASE__URL", f"sqlite:///{tmp_path / 'm.db'}")
    get_settings.cache_clear()
    try:
        assert migrate.main(["--status"]) == 1  # empty database: behind head
        assert migrate.main([]) == 0
        assert "applied 2 migration(s)" in capsys.readouterr().out
        assert migrate.main([]) == 0
        assert "up to date" in capsys.readouterr().out
        assert migrate.main(["--status"]) == 0
    finally:
        get_settings.cache_clear()


def test_unreachable_database_fails_cleanly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BACKEND_DATABASE__URL", "postgresql+psycopg://zyron:pw@127.0.0.1:1/zyron")
    monkeypatch.setenv("BACKEND_DATABASE__MIGRATE_WAIT_S", "0")
    monkeypatch.setenv("BACKEND_DATABASE__CONNECT_TIMEOUT_S", "1")
    get_settings.cache_clear()
    try:
        assert migrate.main([]) == 1
        err = capsys.readouterr().err
        assert "OperationalError" in err and "pw" not in err.replace("psycopg", "")
    finally:
        get_settings.cache_clear()


def test_backend_settings_from_flattened_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZYRON_ENV", "staging")
    monkeypatch.setenv("BACKEND_PORT", "9000")
    monkeypatch.setenv("BACKEND_DATABASE__URL", "postgresql+psycopg://u:p@db/zyron")
    monkeypatch.setenv("BACKEND_VISUAL_BRAIN__URL", "http://vb:8710")
    monkeypatch.setenv("BACKEND_CORS_ORIGINS", '["http://a:1","http://b:2"]')
    monkeypatch.setenv("BACKEND_FRONTEND_URL", "")
    s = BackendSettings()
    assert (s.env, s.port) == ("staging", 9000)
    assert s.database.url.startswith("postgresql+psycopg://")
    assert s.visual_brain.url == "http://vb:8710"
    assert s.cors_origins == ["http://a:1", "http://b:2"]
    assert s.frontend_url is None
