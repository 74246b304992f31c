"""A log file that cannot grow: a child of ours lowers its file size limit, so the kernel
makes a short write and then refuses (EFBIG), as a disk that fills up mid-write does;
then the limit is raised again, as when space is freed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dev_orchestrator.logs.reader import STAMP_LEN

CHILD = textwrap.dedent(
    """
    import json, os, resource, signal, sys
    from pathlib import Path
    from dev_orchestrator.logs.writer import LogSink

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    path = Path(sys.argv[1])
    sink = LogSink("svc", path, max_bytes=1 << 30)
    got = []
    sink.add_listener(lambda _name, lines: got.append(lines.decode()))
    matched = []
    sink.watch("ready", matched.append)
    sink.feed(b"fits\\n")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (os.path.getsize(path) + 40, hard))
    sink.feed(b"first line, cut short\\nsecond line, dropped\\n")
    sink.feed(b"third, dropped\\nready now\\n")
    failing = {"dropped": sink.dropped_bytes, "problem": sink.problem}
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    sink.feed(b"fourth, written\\n")
    sink.close()
    print(json.dumps({"failing": failing, "dropped": sink.dropped_bytes, "problem": sink.problem,
                      "got": got, "matched": matched, "tail": sink.last_lines(10)}))
    """
)


@pytest.mark.timeout(60)
def test_a_short_write_then_a_refusal_never_raises_and_is_counted_to_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "svc.log"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=50)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    second = 2 * STAMP_LEN + len("first line, cut short\nsecond line, dropped\n")
    third = 2 * STAMP_LEN + len("third, dropped\nready now\n")
    dropped = second - 40 + third
    assert result["failing"] == {"dropped": dropped, "problem": f"{path}: file too large, {dropped} bytes dropped"}
    assert result["dropped"] == dropped
    assert result["problem"] == f"{path}: file too large, {dropped} bytes dropped; writing again"
    assert result["got"] == [
        "fits\n", "first line, cut short\nsecond line, dropped\n", "third, dropped\nready now\n", "fourth, written\n"
    ]
    assert result["matched"] == ["ready now"]
    assert result["tail"][-3:] == ["third, dropped", "ready now", "fourth, written"]
    lines = path.read_text().splitlines()
    assert [line[STAMP_LEN:] for line in lines] == [
        "fits",
        "first line, cut ",  # the 40 bytes the kernel took: a stamp and the start of the line
        f"[dev-orchestrator] {dropped} bytes of output could not be written here (file too large)",
        "fourth, written",
    ]
