"""GPU detection: nvidia-smi parsers on recorded outputs, detector order, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from dev_orchestrator import gpu
from dev_orchestrator.gpu import GpuDetectionError, GpuReport, NoGpu

FIXTURES = Path(__file__).parent / "fixtures" / "nvidia-smi"
ROOT = Path(__file__).resolve().parents[2]


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


# --- parsers ------------------------------------------------------------------------------


def test_h100_row() -> None:
    [card] = gpu.parse_query_csv(fixture("h100.csv"), cuda_version="12.2")
    assert card.index == 0
    assert card.name == "NVIDIA H100 80GB HBM3"
    assert card.memory_total_mib == 81559
    assert card.memory_free_mib == 81004
    assert card.memory_used_mib == 0
    assert card.utilization_pct == 0
    assert card.driver_version == "535.104.05"
    assert card.cuda_version == "12.2"
    assert card.uuid is not None and card.uuid.startswith("GPU-")


def test_h200_captured_on_a_real_machine() -> None:
    [card] = gpu.parse_query_csv(
        fixture("h200.csv"), gpu.parse_cuda_version(fixture("h200-banner.txt"))
    )
    assert (card.name, card.memory_total_mib, card.memory_free_mib) == (
        "NVIDIA H200",
        143771,
        143156,
    )
    assert (card.driver_version, card.cuda_version) == ("580.159.04", "13.0")
    assert card.utilization_pct == 0 and card.temperature_c == 41


def test_a100_row() -> None:
    [card] = gpu.parse_query_csv(fixture("a100-sxm4-80gb.csv"))
    assert (card.name, card.memory_total_mib, card.memory_free_mib) == (
        "NVIDIA A100-SXM4-80GB",
        81920,
        81050,
    )
    assert card.driver_version == "580.65.06"


def test_consumer_card_row() -> None:
    [card] = gpu.parse_query_csv(fixture("rtx4090.csv"))
    assert card.name == "NVIDIA GeForce RTX 4090"
    assert card.memory_total_mib == 24564
    assert card.memory_used_mib == 1613
    assert card.utilization_pct == 7
    assert card.temperature_c == 44


def test_several_gpus_and_not_available_fields() -> None:
    cards = gpu.parse_query_csv(fixture("multi-a100x4-mig.csv"))
    assert [c.index for c in cards] == [0, 1, 2, 3]
    assert {c.name for c in cards} == {"NVIDIA A100-SXM4-40GB"}
    assert cards[0].utilization_pct == 97
    assert cards[3].utilization_pct is None  # "[N/A]" on a MIG-enabled GPU
    assert sum(c.memory_free_mib or 0 for c in cards) == 2311 + 40512 + 14806 + 39832


@pytest.mark.parametrize(
    ("banner", "version"), [("h100-banner.txt", "12.2"), ("rtx4090-banner.txt", "12.4")]
)
def test_cuda_version_from_banner(banner: str, version: str) -> None:
    assert gpu.parse_cuda_version(fixture(banner)) == version


def test_cuda_version_absent_or_not_available() -> None:
    assert gpu.parse_cuda_version("no banner here") is None
    assert gpu.parse_cuda_version("CUDA Version : N/A") is None
    assert gpu.parse_cuda_version("    CUDA Version                          : 12.4") == "12.4"


def test_nvml_cuda_version_integer() -> None:
    assert gpu.cuda_version_from_int(12020) == "12.2"
    assert gpu.cuda_version_from_int(11080) == "11.8"


@pytest.mark.parametrize("name", ["no-driver.txt", "no-devices.txt"])
def test_no_gpu_messages_are_a_fallback_not_an_error(name: str) -> None:
    with pytest.raises(NoGpu, match="nvidia-smi: "):
        gpu.parse_query_csv(fixture(name))


def test_unexpected_output_is_a_detection_error() -> None:
    with pytest.raises(GpuDetectionError, match="expected 9 columns"):
        gpu.parse_query_csv(fixture("invalid-field.txt"))
    with pytest.raises(GpuDetectionError, match="expected a number"):
        gpu.parse_query_csv("0, X, GPU-1, lots, 1, 1, 1, 1, 1.0\n")


def test_empty_output_means_no_gpu() -> None:
    with pytest.raises(NoGpu):
        gpu.parse_query_csv("\n")


# --- the nvidia-smi detector with a recorded run ------------------------------------------


def fake_runner(query: str, returncode: int = 0, banner: str = "") -> gpu.Runner:
    def run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        if len(argv) == 1:
            return subprocess.CompletedProcess(list(argv), 0, banner, "")
        assert argv[1].startswith("--query-gpu=index,name,uuid,memory.total,memory.free")
        assert argv[2] == "--format=csv,noheader,nounits"
        return subprocess.CompletedProcess(list(argv), returncode, query, "")

    return run


def on_path(_name: str) -> str:
    return "/usr/bin/nvidia-smi"


def test_nvidia_smi_detector_reports_gpus_with_cuda_version() -> None:
    report = gpu.detect_nvidia_smi(
        runner=fake_runner(fixture("h100.csv"), banner=fixture("h100-banner.txt")), which=on_path
    )
    assert report.backend == "nvidia-smi"
    assert report.usable and report.exit_code == 0
    assert report.driver_version == "535.104.05"
    assert report.cuda_version == "12.2"
    assert report.gpus[0].cuda_version == "12.2"


def test_nvidia_smi_without_driver_is_cpu_fallback() -> None:
    with pytest.raises(NoGpu, match="couldn't communicate with the NVIDIA driver"):
        gpu.detect_nvidia_smi(
            runner=fake_runner(fixture("no-driver.txt"), returncode=9), which=on_path
        )


def test_nvidia_smi_failing_oddly_is_an_error() -> None:
    with pytest.raises(GpuDetectionError, match="exited with 2"):
        gpu.detect_nvidia_smi(
            runner=fake_runner(fixture("invalid-field.txt"), returncode=2), which=on_path
        )


def test_nvidia_smi_timeout_is_an_error() -> None:
    def slow(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(list(argv), timeout)

    with pytest.raises(GpuDetectionError, match="did not answer within 3s"):
        gpu.detect_nvidia_smi(timeout=3, runner=slow, which=on_path)


def test_nvidia_smi_missing() -> None:
    with pytest.raises(NoGpu, match="not found on PATH"):
        gpu.detect_nvidia_smi(which=lambda _n: None)


# --- detector order and the report --------------------------------------------------------


def _none(reason: str) -> Callable[[], GpuReport]:
    def run() -> GpuReport:
        raise NoGpu(reason)

    return run


def _broken(message: str) -> Callable[[], GpuReport]:
    def run() -> GpuReport:
        raise GpuDetectionError(message)

    return run


def _found() -> GpuReport:
    return GpuReport(backend="nvidia-smi", gpus=tuple(gpu.parse_query_csv(fixture("rtx4090.csv"))))


def test_first_detector_that_finds_gpus_wins_and_keeps_earlier_reasons() -> None:
    report = gpu.detect([("nvml", _none("NVML: Driver Not Loaded")), ("nvidia-smi", _found)])
    assert report.usable and report.backend == "nvidia-smi"
    assert report.notes == ("NVML: Driver Not Loaded",)


def test_cpu_fallback_explains_every_reason() -> None:
    report = gpu.detect(
        [("nvml", _none("NVML: library not found")), ("smi", _none("nvidia-smi not found"))]
    )
    assert not report.usable
    assert report.device == "cpu"
    assert report.exit_code == gpu.EXIT_CPU_FALLBACK
    assert "NVML: library not found" in (report.reason or "")
    assert "nvidia-smi not found" in (report.reason or "")


def test_detection_error_wins_over_fallback_unless_a_gpu_is_found() -> None:
    broken = gpu.detect([("nvml", _none("no NVML")), ("smi", _broken("nvidia-smi exited with 2"))])
    assert broken.exit_code == gpu.EXIT_ERROR
    assert broken.error == "nvidia-smi exited with 2"
    rescued = gpu.detect([("smi", _broken("odd output")), ("torch", _found)])
    assert rescued.exit_code == gpu.EXIT_GPU


# --- CLI ----------------------------------------------------------------------------------


def test_cli_table_and_exit_code_with_gpus(capsys: pytest.CaptureFixture[str]) -> None:
    code = gpu.main([], detector=lambda: gpu.detect([("smi", _found)]))
    out = capsys.readouterr().out
    assert code == 0
    assert "NVIDIA GeForce RTX 4090" in out
    assert "24564" in out
    assert "device: cuda (1 GPU(s)" in out


def test_cli_json_cpu_fallback(capsys: pytest.CaptureFixture[str]) -> None:
    code = gpu.main(["--json"], detector=lambda: gpu.detect([("nvml", _none("NVML: not found"))]))
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    assert data["usable"] is False and data["device"] == "cpu" and data["gpus"] == []
    assert "NVML: not found" in data["reason"]


def test_cli_error_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    def crash() -> GpuReport:
        raise RuntimeError("boom")

    assert gpu.main(["--json"], detector=crash) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "RuntimeError: boom"


def test_shim_runs_the_real_detection() -> None:
    """check-gpu.py on this machine: exit 0 with GPUs or 1 with a reason, JSON either way."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "check-gpu.py"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    data = json.loads(proc.stdout)
    assert proc.returncode == (0 if data["usable"] else 1 if data["error"] is None else 2)
    if not data["usable"]:
        assert data["reason"]


def test_module_is_import_light() -> None:
    code = "import sys, dev_orchestrator.gpu as g; print(sorted(m for m in sys.modules if m.startswith(('dev_orchestrator.', 'pydantic', 'rich', 'click'))))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert out.strip() == "['dev_orchestrator.gpu']"
