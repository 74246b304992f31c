"""The thumbnail job kind: params and input checks, and the image operation itself."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from visual_brain.kinds import (
    InputError,
    ThumbnailParams,
    check_image,
    get_kind,
    parse_params,
    run_thumbnail,
)


def image_bytes(size: tuple[int, int] = (400, 300), fmt: str = "PNG", mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, "teal" if mode != "RGBA" else (0, 128, 128, 100)).save(buf, format=fmt)
    return buf.getvalue()


def test_unknown_kind_lists_known_ones() -> None:
    with pytest.raises(InputError) as info:
        get_kind("resize")
    assert info.value.status == 400
    assert str(info.value) == 'unknown job kind "resize" (known: thumbnail)'


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("{", "params is not valid JSON"),
        ('"x"', "params must be a JSON object"),
        ('{"max_width": 5000}', "max_width: Input should be less than or equal to 4096"),
        ('{"quality": 0}', "quality"),
        ('{"size": 3}', "size: Extra inputs are not permitted"),
    ],
)
def test_bad_params(raw: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_params(get_kind("thumbnail"), raw)
    assert info.value.status == 422


def test_params_defaults_and_empty() -> None:
    assert parse_params(get_kind("thumbnail"), None) == ThumbnailParams()
    assert parse_params(get_kind("thumbnail"), "  ") == ThumbnailParams()
    assert parse_params(get_kind("thumbnail"), '{"max_width": 64}').max_width == 64  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_accepted_formats(fmt: str) -> None:
    assert check_image(image_bytes(fmt=fmt), 10**8) == {"format": fmt, "width": 400, "height": 300}


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"", 400, "file is empty"),
        (b"GIF? no, plain text", 415, "not an image"),
        (image_bytes(fmt="GIF"), 415, "image format GIF is not accepted"),
        (image_bytes()[:60], 422, "damaged or truncated"),
        (image_bytes((2000, 2000)), 413, "more than the limit of 1000000"),
    ],
)
def test_refused_inputs(data: bytes, status: int, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        check_image(data, 1_000_000)
    assert info.value.status == status


def test_thumbnail_keeps_aspect_ratio_and_format() -> None:
    result = run_thumbnail(image_bytes((400, 300)), ThumbnailParams(max_width=100, max_height=100))
    img = Image.open(io.BytesIO(result.data))
    assert (img.format, img.size) == ("PNG", (100, 75))
    assert result.content_type == "image/png"
    assert result.meta == {"width": 100, "height": 75, "format": "PNG"}


def test_thumbnail_never_upscales() -> None:
    result = run_thumbnail(image_bytes((50, 40)), ThumbnailParams())
    assert Image.open(io.BytesIO(result.data)).size == (50, 40)


def test_transparent_png_to_jpeg() -> None:
    result = run_thumbnail(
        image_bytes((300, 300), mode="RGBA"), ThumbnailParams(format="jpeg", max_width=30)
    )
    img = Image.open(io.BytesIO(result.data))
    assert (img.format, img.mode, img.size) == ("JPEG", "RGB", (30, 30))
    assert result.content_type == "image/jpeg"


def test_jpeg_input_stays_jpeg() -> None:
    result = run_thumbnail(image_bytes(fmt="JPEG"), ThumbnailParams(max_width=40))
    assert Image.open(io.BytesIO(result.data)).format == "JPEG"
