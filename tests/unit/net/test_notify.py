"""The sd_notify server, with real senders: a Python child and systemd-notify."""

from __future__ import annotations

import array
import asyncio
import os
import secrets
import shutil
import socket
import stat
import sys
from pathlib import Path

import pytest

from dev_orchestrator.errors import OrchestratorError
from dev_orchestrator.net import NotifyMessage, NotifySocket, sd_notify
from dev_orchestrator.net.notify import parse

pytestmark = pytest.mark.timeout(60)

# The three lines of the module docstring, as a service would run them.
SNIPPET = """
import os, socket
addr = os.environ["NOTIFY_SOCKET"]
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", "\\0" + addr[1:] if addr[0] == "@" else addr)
"""


async def spawn(argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    proc = await asyncio.create_subprocess_exec(*argv, env={**os.environ, **env})
    return proc.pid, await asyncio.wait_for(proc.wait(), 30)


def test_a_child_reports_ready_and_status(tmp_path: Path) -> None:
    child = (
        "import os, socket\n"
        "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
        "s.sendto(b'STATUS=warming up', os.environ['NOTIFY_SOCKET'])\n"
        "s.sendto(b'READY=1\\nSTATUS=serving\\nMAINPID=%d' % os.getpid(), os.environ['NOTIFY_SOCKET'])\n"
    )
    seen: list[NotifyMessage] = []

    async def main() -> None:
        with NotifySocket.in_folder(tmp_path / "notify", "api.1", on_message=seen.append) as sock:
            assert not sock.is_ready
            pid, code = await spawn([sys.executable, "-c", child], sock.env())
            assert code == 0
            assert await sock.ready(timeout=10)
            assert sock.status == "serving" and sock.main_pid == pid and sock.sender_pid == pid
            assert [m.values.get("STATUS") for m in seen] == ["warming up", "serving"]

    asyncio.run(main())


def test_the_docstring_snippet_works_with_a_path_and_an_abstract_address(tmp_path: Path) -> None:
    async def main(address: str) -> bool:
        with NotifySocket(address) as sock:
            _, code = await spawn([sys.executable, "-c", SNIPPET], sock.env())
            assert code == 0
            return await sock.ready(timeout=10)

    assert asyncio.run(main(str(tmp_path / "n.sock")))
    assert asyncio.run(main(f"@dev-orchestrator-test-{secrets.token_hex(4)}"))


@pytest.mark.skipif(shutil.which("systemd-notify") is None, reason="systemd-notify is not installed here")
def test_systemd_notify_ready_and_its_barrier(tmp_path: Path) -> None:
    """systemd-notify (246+) waits until the receiver closes the fd of its BARRIER=1."""

    async def main() -> None:
        with NotifySocket.in_folder(tmp_path / "notify", "web") as sock:
            _, code = await spawn(["systemd-notify", "--ready", "--status=up via systemd-notify"], sock.env())
            assert code == 0  # 1 ("Failed to invoke barrier") if the fd were kept open
            assert await sock.ready(timeout=5)
            assert sock.status == "up via systemd-notify"

    asyncio.run(main())


def test_fds_that_come_along_are_closed(tmp_path: Path) -> None:
    async def main() -> bytes:
        with NotifySocket(tmp_path / "n.sock") as sock:
            read_end, write_end = os.pipe()
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
                fds = array.array("i", [write_end])
                sender.sendmsg([b"BARRIER=1"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)], 0, sock.address)
            os.close(write_end)
            loop = asyncio.get_running_loop()
            eof: asyncio.Future[bytes] = loop.create_future()
            def readable() -> None:
                if not eof.done():
                    eof.set_result(os.read(read_end, 1))

            loop.add_reader(read_end, readable)
            try:
                return await asyncio.wait_for(eof, 10)
            finally:
                loop.remove_reader(read_end)
                os.close(read_end)

    assert asyncio.run(main()) == b""  # EOF: the last write end, ours, was closed


def test_reloading_stopping_and_watchdog(tmp_path: Path) -> None:
    async def main() -> None:
        with NotifySocket(tmp_path / "n.sock") as sock:
            sd_notify("READY=1", sock.address)
            assert await sock.ready(timeout=10)
            sd_notify("RELOADING=1\nSTATUS=reloading", sock.address)
            sd_notify("WATCHDOG=1", sock.address)
            assert await sock.stopping(timeout=0.2) is False
            assert not sock.is_ready and sock.status == "reloading" and sock.watchdog_at is not None
            sd_notify("READY=1\nSTOPPING=1\nERRNO=5", sock.address)
            assert await sock.stopping(timeout=10)
            assert sock.is_ready and sock.values["ERRNO"] == "5"

    asyncio.run(main())


def test_ready_times_out_and_close_releases_waiters(tmp_path: Path) -> None:
    async def main() -> None:
        sock = NotifySocket(tmp_path / "n.sock")
        assert await sock.ready(timeout=0.05) is False
        async with asyncio.TaskGroup() as tg:
            waiting = tg.create_task(sock.ready())
            await asyncio.sleep(0.01)
            sock.close()
        assert waiting.result() is False
        assert not (tmp_path / "n.sock").exists()
        assert await sock.ready() is False  # closed: answers at once

    asyncio.run(main())


def test_folder_and_socket_are_private_and_long_paths_fall_back(tmp_path: Path) -> None:
    async def main() -> None:
        with NotifySocket.in_folder(tmp_path / "private", "svc/1") as sock:
            assert stat.S_IMODE((tmp_path / "private").stat().st_mode) == 0o700
            assert stat.S_IMODE(os.stat(sock.address).st_mode) == 0o600
            assert Path(sock.address).name == "svc_1.sock"
        deep = tmp_path / ("d" * 100)
        with NotifySocket.in_folder(deep, "svc") as sock:
            assert sock.address.startswith("@dev-orchestrator-")
            sd_notify("READY=1", sock.address)
            assert await sock.ready(timeout=10)
        (tmp_path / "real").mkdir()
        (tmp_path / "link").symlink_to(tmp_path / "real")
        with pytest.raises(OrchestratorError, match="symlink"):
            NotifySocket.in_folder(tmp_path / "link", "svc")

    asyncio.run(main())


def test_parse_and_notify_without_a_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse(b"READY=1\nSTATUS=a=b\n\ngarbage\n=x") == (("READY", "1"), ("STATUS", "a=b"))
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False
