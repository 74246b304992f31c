"""Job kinds: what a submitted job does, and how its input and params are checked.

Each kind validates its params and input at submission (so bad input is a 4xx, not a
failed job) and runs in a worker thread. ``thumbnail`` is an honest image operation
that needs no model weights.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

ACCEPTED_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
OUTPUT_FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}


class InputError(Exception):
    """The submission is wrong; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class ThumbnailParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_width: int = Field(256, ge=1, le=4096)
    max_height: int = Field(256, ge=1, le=4096)
    format: Literal["png", "jpeg", "webp"] | None = Field(
        None, description="output format; default: the input's format"
    )
    quality: int = Field(85, ge=1, le=95, description="JPEG/WebP quality")


@dataclass(frozen=True)
class Result:
    data: bytes
    content_type: str
    meta: dict[str, Any]


@dataclass(frozen=True)
class JobKind:
    name: str
    description: str
    params: type[BaseModel]
    check_input: Callable[[bytes, int], dict[str, Any]]
    run: Callable[[bytes, BaseModel], Result]


def parse_params(kind: JobKind, raw: str | None) -> BaseModel:
    """``params`` form field (JSON object text) -> the kind's params model, or InputError."""
    data: Any = {}
    if raw is not None and raw.strip():
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InputError(f"params is not valid JSON: {exc.msg} at position {exc.pos}") from exc
        if not isinstance(data, dict):
            raise InputError('params must be a JSON object, e.g. {"max_width": 128}')
    try:
        return kind.params.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
            for err in exc.errors()
        )
        raise InputError(f"invalid params for {kind.name}: {problems}") from exc


def check_image(data: bytes, max_pixels: int) -> dict[str, Any]:
    """Verify that ``data`` is a PNG, JPEG or WebP image of an accepted size."""
    if not data:
        raise InputError("file is empty", status=400)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or "?"
                width, height = img.size
                img.verify()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise InputError(
                "file is not an image (accepted: PNG, JPEG, WebP)", status=415
            ) from exc
        raise InputError(f"image is too large to decode safely: {exc}", status=413) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"image is damaged or truncated: {exc}", status=422) from exc
    if fmt not in ACCEPTED_FORMATS:
        raise InputError(
            f"image format {fmt} is not accepted (accepted: PNG, JPEG, WebP)", status=415
        )
    if width * height > max_pixels:
        raise InputError(
            f"image is {width}x{height} = {width * height} pixels, more than the limit of {max_pixels}",
            status=413,
        )
    return {"format": fmt, "width": width, "height": height}


def run_thumbnail(data: bytes, params: BaseModel) -> Result:
    assert isinstance(params, ThumbnailParams)  # the registry pairs kind and params
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        source_format = img.format or "PNG"
        out_key = params.format or {"JPEG": "jpeg", "WEBP": "webp"}.get(source_format, "png")
        pil_format, content_type = OUTPUT_FORMATS[out_key]
        thumb = img.copy()
    thumb.thumbnail((params.max_width, params.max_height), Image.Resampling.LANCZOS)
    if pil_format == "JPEG" and thumb.mode not in ("RGB", "L"):
        thumb = thumb.convert("RGB")
    buf = io.BytesIO()
    save_args: dict[str, Any] = {"optimize": True}
    if pil_format in ("JPEG", "WEBP"):
        save_args["quality"] = params.quality
    thumb.save(buf, format=pil_format, **save_args)
    return Result(
        data=buf.getvalue(),
        content_type=content_type,
        meta={"width": thumb.width, "height": thumb.height, "format": pil_format},
    )


KINDS: dict[str, JobKind] = {
    "thumbnail": JobKind(
        name="thumbnail",
        description="resize an image to fit max_width x max_height, keeping its aspect ratio",
        params=ThumbnailParams,
        check_input=check_image,
        run=run_thumbnail,
    )
}


def get_kind(name: str) -> JobKind:
    kind = KINDS.get(name)
    if kind is None:
        known = ", ".join(sorted(KINDS))
        raise InputError(f'unknown job kind "{name}" (known: {known})', status=400)
    return kind
