"""secrets: for a local process: a private copy (0600 in 0700 folders) whose path is in <NAME>_FILE.

The values never show in `config`, `status`, the logs or the process's arguments, and
the private files go when the stack stops.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
from pathlib import Path

import psutil
import pytest

from .conftest import Project, wait_until

PASSWORD = "pw-7d1c0ffee"
TOKEN = "tok-9e2beef"
READER = """
import hashlib, os, stat, time
for var in ("DB_PASSWORD_FILE", "TOKEN_TXT_FILE"):
    path = os.environ[var]
    info = os.stat(path)
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()[:12]
    print(var, path, oct(stat.S_IMODE(info.st_mode)), digest, flush=True)
time.sleep(600)
"""


def test_a_process_reads_its_secrets_from_private_files(project: Project, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run_dir))
    monkeypatch.setenv("API_TOKEN", TOKEN)
    (project.root / "db_password.txt").write_text(PASSWORD)
    (project.root / "reader.py").write_text(READER)
    project.write(f"""
        name: secrets-demo
        secrets:
          db_password: {{file: ./db_password.txt}}
          token: {{environment: API_TOKEN}}
        services:
          app:
            command: {json.dumps([sys.executable, str(project.root / "reader.py")])}
            secrets: [db_password, {{source: token, target: token.txt}}]
    """)
    project.run("start", check=True)
    log = project.root / "logs" / "app.log"

    def lines() -> list[str]:
        return [ln for ln in log.read_text().splitlines() if "_FILE " in ln] if log.exists() else []

    assert wait_until(lambda: len(lines()) == 2, timeout=10), log.read_text() if log.exists() else "no log"
    seen = {ln.split()[-4]: ln.split()[-3:] for ln in lines()}
    digest = {v: hashlib.sha256(v.encode()).hexdigest()[:12] for v in (PASSWORD, TOKEN)}
    (pw_path, pw_mode, pw_digest), (tok_path, tok_mode, tok_digest) = seen["DB_PASSWORD_FILE"], seen["TOKEN_TXT_FILE"]
    assert (pw_mode, pw_digest) == ("0o600", digest[PASSWORD])
    assert (tok_mode, tok_digest) == ("0o600", digest[TOKEN])
    private = Path(pw_path).parent
    assert Path(tok_path).parent == private and private.name == "app"
    assert run_dir in private.parents and project.root not in private.parents  # outside the project
    for folder in (private, private.parent, private.parent.parent):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    # the values are nowhere to be read but in those files
    pid = project.status()["services"]["app"]["pid"]
    shown = [project.run("config", check=True).stdout, project.run("status", "--json", check=True).stdout,
             log.read_text(), " ".join(psutil.Process(pid).cmdline())]
    for text in shown:
        assert PASSWORD not in text and TOKEN not in text
    project.run("stop", check=True)
    assert not private.parent.exists()  # the project's private folder went with the stack


def test_an_unknown_secret_or_an_unset_variable_is_named_at_its_place(project: Project,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    project.write("""
        secrets:
          token: {environment: NOT_SET_ANYWHERE}
          cert: {file: ./missing.pem}
        services:
          app:
            command: [sleep, "60"]
            secrets: [token, cert, nope]
    """)
    proc = project.run("start")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "secrets.token.environment: NOT_SET_ANYWHERE is not set" in proc.stderr
    assert "secrets.cert.file: ./missing.pem does not exist" in proc.stderr
    assert 'services.app.secrets.2: unknown secret "nope"' in proc.stderr
    assert "Traceback" not in proc.stderr
