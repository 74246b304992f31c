"""GPU detection shared by ``check-gpu`` and Visual Brain.

Tries NVML (the optional ``nvidia-ml-py`` package) first, then parses
``nvidia-smi --query-gpu ... --format=csv,noheader,nounits``, and asks torch only when
torch is already installed. When no GPU is usable the report says why (CPU fallback).

Import-light on purpose: stdlib only at import time, so Visual Brain and the CLI can
import it without pulling in the orchestrator runtime.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: The fields asked of ``nvidia-smi``, in this order (one CSV column each).
QUERY_FIELDS: tuple[str, ...] = (
    "index",
    "name",
    "uuid",
    "memory.total",
    "memory.free",
    "memory.used",
    "utilization.gpu",
    "temperature.gpu",
    "driver_version",
)

EXIT_GPU = 0
EXIT_CPU_FALLBACK = 1
EXIT_ERROR = 2

# nvidia-smi prints these when it runs but cannot use a GPU: a CPU fallback, not an error.
_NO_GPU_MESSAGES = (
    "couldn't communicate with the nvidia driver",
    "no devices were found",
    "driver/library version mismatch",
    "no cuda-capable device",
)


class GpuDetectionError(Exception):
    """Detection itself failed (unexpected output, timeout): not a plain "no GPU"."""


class NoGpu(Exception):
    """The detector ran and found no usable GPU; the message is the reason."""


@dataclass(frozen=True)
class GpuInfo:
    index: int
    name: str
    memory_total_mib: int | None
    memory_free_mib: int | None
    memory_used_mib: int | None = None
    utilization_pct: int | None = None
    temperature_c: int | None = None
    uuid: str | None = None
    driver_version: str | None = None
    cuda_version: str | None = None


@dataclass(frozen=True)
class GpuReport:
    """The outcome of detection: GPUs found, or the CPU fallback with its reason."""

    backend: str  # "nvml", "nvidia-smi", "torch" or "none"
    gpus: tuple[GpuInfo, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None
    reason: str | None = None  # why the fallback is CPU-only
    error: str | None = None  # detection failed
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def usable(self) -> bool:
        return bool(self.gpus) and self.error is None

    @property
    def device(self) -> str:
        return "cuda" if self.usable else "cpu"

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return EXIT_ERROR
        return EXIT_GPU if self.usable else EXIT_CPU_FALLBACK

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["gpus"] = [asdict(g) for g in self.gpus]
        data["notes"] = list(self.notes)
        data["usable"] = self.usable
        data["device"] = self.device
        return data


# --- nvidia-smi parsing -------------------------------------------------------------------


def _optional_int(text: str) -> int | None:
    """``"81559"`` -> 81559; ``"[N/A]"``, ``"[Not Supported]"``, ``""`` -> None."""
    value = text.strip()
    if not value or value.startswith("[") or value.upper() in {"N/A", "NA"}:
        return None
    try:
        return int(float(value))
    except ValueError as exc:
        raise GpuDetectionError(f"nvidia-smi: expected a number, got {value!r}") from exc


def _optional_str(text: str) -> str | None:
    value = text.strip()
    return None if not value or value.startswith("[") else value


def no_gpu_reason(output: str) -> str | None:
    """The reason nvidia-smi gave for having no usable GPU, or None if it gave none."""
    lowered = output.lower()
    for marker in _NO_GPU_MESSAGES:
        if marker in lowered:
            first = next((line.strip() for line in output.splitlines() if line.strip()), output)
            return f"nvidia-smi: {first}"
    return None


def parse_query_csv(output: str, cuda_version: str | None = None) -> list[GpuInfo]:
    """Parse ``nvidia-smi --query-gpu=<QUERY_FIELDS> --format=csv,noheader,nounits``.

    Raises ``NoGpu`` for the driver's "no GPU" messages and ``GpuDetectionError`` for
    output that is neither rows nor a known message.
    """
    reason = no_gpu_reason(output)
    if reason is not None:
        raise NoGpu(reason)
    gpus: list[GpuInfo] = []
    for lineno, line in enumerate(output.splitlines(), start=1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(QUERY_FIELDS):
            raise GpuDetectionError(
                f"nvidia-smi line {lineno}: expected {len(QUERY_FIELDS)} columns "
                f"({', '.join(QUERY_FIELDS)}), got {len(cells)}: {line.strip()!r}"
            )
        index = _optional_int(cells[0])
        if index is None:
            raise GpuDetectionError(f"nvidia-smi line {lineno}: no GPU index in {line.strip()!r}")
        gpus.append(
            GpuInfo(
                index=index,
                name=cells[1],
                uuid=_optional_str(cells[2]),
                memory_total_mib=_optional_int(cells[3]),
                memory_free_mib=_optional_int(cells[4]),
                memory_used_mib=_optional_int(cells[5]),
                utilization_pct=_optional_int(cells[6]),
                temperature_c=_optional_int(cells[7]),
                driver_version=_optional_str(cells[8]),
                cuda_version=cuda_version,
            )
        )
    if not gpus:
        raise NoGpu("nvidia-smi listed no GPUs")
    return gpus


_CUDA_RE = re.compile(r"CUDA Version\s*:?\s*([0-9]+(?:\.[0-9]+)*|N/A)")


def parse_cuda_version(banner: str) -> str | None:
    """The CUDA version from plain ``nvidia-smi`` (``CUDA Version: 12.2``) or ``-q`` output."""
    match = _CUDA_RE.search(banner)
    if match is None or match.group(1) == "N/A":
        return None
    return match.group(1)


def cuda_version_from_int(value: int) -> str:
    """NVML's ``12020`` -> ``"12.2"`` (major * 1000 + minor * 10)."""
    return f"{value // 1000}.{(value % 1000) // 10}"


# --- detectors ----------------------------------------------------------------------------

Runner = Callable[[Sequence[str], float], "subprocess.CompletedProcess[str]"]


def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)


def detect_nvidia_smi(
    timeout: float = 10.0, runner: Runner = _run, which: Callable[[str], str | None] = shutil.which
) -> GpuReport:
    """Detect through the ``nvidia-smi`` command line tool."""
    exe = which("nvidia-smi")
    if exe is None:
        raise NoGpu("nvidia-smi not found on PATH")
    argv = [exe, f"--query-gpu={','.join(QUERY_FIELDS)}", "--format=csv,noheader,nounits"]
    try:
        proc = runner(argv, timeout)
    except subprocess.TimeoutExpired as exc:
        raise GpuDetectionError(f"nvidia-smi did not answer within {timeout:g}s") from exc
    except OSError as exc:
        raise GpuDetectionError(f"cannot run {exe}: {exc}") from exc
    output = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        reason = no_gpu_reason(output)
        if reason is not None:
            raise NoGpu(reason)
        detail = output.strip().splitlines()[0] if output.strip() else "no output"
        raise GpuDetectionError(f"nvidia-smi exited with {proc.returncode}: {detail}")
    cuda: str | None = None
    try:
        banner = runner([exe], timeout)
        cuda = parse_cuda_version(banner.stdout or "")
    except (subprocess.TimeoutExpired, OSError):
        cuda = None  # the GPU rows are the essential part; the CUDA version is a detail
    gpus = parse_query_csv(proc.stdout or "", cuda_version=cuda)
    return GpuReport(
        backend="nvidia-smi",
        gpus=tuple(gpus),
        driver_version=gpus[0].driver_version,
        cuda_version=cuda,
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def detect_nvml() -> GpuReport:
    """Detect through NVML; raises ``NoGpu`` when NVML or the driver is missing."""
    try:
        import pynvml
    except ImportError as exc:
        raise NoGpu("NVML bindings not installed (pip install nvidia-ml-py)") from exc
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        raise NoGpu(f"NVML: {exc}") from exc
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        try:
            cuda: str | None = cuda_version_from_int(int(pynvml.nvmlSystemGetCudaDriverVersion()))
        except pynvml.NVMLError:
            cuda = None
        count = int(pynvml.nvmlDeviceGetCount())
        gpus = []
        for index in range(count):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                util: int | None = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except pynvml.NVMLError:
                util = None  # not supported on some cards and on MIG instances
            try:
                temp: int | None = int(
                    pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU)
                )
            except pynvml.NVMLError:
                temp = None
            gpus.append(
                GpuInfo(
                    index=index,
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                    memory_total_mib=int(mem.total) // (1024 * 1024),
                    memory_free_mib=int(mem.free) // (1024 * 1024),
                    memory_used_mib=int(mem.used) // (1024 * 1024),
                    utilization_pct=util,
                    temperature_c=temp,
                    driver_version=driver,
                    cuda_version=cuda,
                )
            )
    except pynvml.NVMLError as exc:
        raise GpuDetectionError(f"NVML: {exc}") from exc
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()
    if not gpus:
        raise NoGpu("NVML found no GPUs")
    return GpuReport(backend="nvml", gpus=tuple(gpus), driver_version=driver, cuda_version=cuda)


def detect_torch() -> GpuReport:
    """Ask torch, only when it is installed (it is never installed for this)."""
    if importlib.util.find_spec("torch") is None:
        raise NoGpu("torch not installed")
    import torch

    if not torch.cuda.is_available():
        raise NoGpu("torch: CUDA is not available")
    gpus = []
    cuda = getattr(torch.version, "cuda", None)
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        gpus.append(
            GpuInfo(
                index=index,
                name=str(props.name),
                memory_total_mib=int(total) // (1024 * 1024),
                memory_free_mib=int(free) // (1024 * 1024),
                memory_used_mib=(int(total) - int(free)) // (1024 * 1024),
                cuda_version=cuda,
            )
        )
    if not gpus:
        raise NoGpu("torch: no CUDA devices")
    return GpuReport(backend="torch", gpus=tuple(gpus), cuda_version=cuda)


def detect(
    detectors: Sequence[tuple[str, Callable[[], GpuReport]]] | None = None,
) -> GpuReport:
    """Run the detectors in order; the first that finds GPUs wins.

    Every "no GPU" reason is kept, so the CPU fallback explains itself. A detector that
    fails unexpectedly is reported as an error unless a later one finds GPUs.
    """
    if detectors is None:
        detectors = (
            ("nvml", detect_nvml),
            ("nvidia-smi", detect_nvidia_smi),
            ("torch", detect_torch),
        )
    reasons: list[str] = []
    errors: list[str] = []
    for _name, run in detectors:
        try:
            report = run()
        except NoGpu as exc:
            reasons.append(str(exc))
            continue
        except GpuDetectionError as exc:
            errors.append(str(exc))
            continue
        return GpuReport(
            backend=report.backend,
            gpus=report.gpus,
            driver_version=report.driver_version,
            cuda_version=report.cuda_version,
            notes=tuple(reasons + errors),
        )
    if errors:
        return GpuReport(backend="none", error="; ".join(errors), reason="; ".join(reasons) or None)
    return GpuReport(backend="none", reason="no usable NVIDIA GPU (" + "; ".join(reasons) + ")")


# --- rendering and CLI --------------------------------------------------------------------


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def render_table(report: GpuReport) -> str:
    """A plain-text table of the report (what ``check-gpu`` prints)."""
    lines: list[str] = []
    if report.gpus:
        header = ("GPU", "NAME", "MEM TOTAL MiB", "MEM FREE MiB", "UTIL %", "DRIVER", "CUDA")
        rows = [
            (
                str(g.index),
                g.name,
                _cell(g.memory_total_mib),
                _cell(g.memory_free_mib),
                _cell(g.utilization_pct),
                _cell(g.driver_version or report.driver_version),
                _cell(g.cuda_version or report.cuda_version),
            )
            for g in report.gpus
        ]
        widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
        for row in (header, *rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        lines.append("")
        lines.append(f"device: cuda ({len(report.gpus)} GPU(s), detected by {report.backend})")
    if report.error is not None:
        lines.append(f"error: GPU detection failed: {report.error}")
        if report.reason:
            lines.append(f"also: {report.reason}")
    elif not report.gpus:
        lines.append(f"device: cpu (fallback): {report.reason}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, detector: Callable[[], GpuReport] = detect) -> int:
    """``check-gpu [--json]``: exit 0 GPU usable, 1 CPU fallback, 2 detection error."""
    parser = argparse.ArgumentParser(
        prog="check-gpu",
        description="Detect NVIDIA GPUs (NVML, then nvidia-smi, then torch if installed).",
        epilog="exit status: 0 a GPU is usable, 1 CPU-only fallback, 2 detection error",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        report = detector()
    except Exception as exc:  # the CLI boundary: never a traceback for a detection bug
        report = GpuReport(backend="none", error=f"{type(exc).__name__}: {exc}")
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render_table(report))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
