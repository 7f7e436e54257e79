"""Real image work for the demo: the four job types done with Pillow.

Each source file in the input folder becomes four jobs (resize, thumbnail,
watermark, compress). A job writes ``<stem>.<type>.<ext>`` into the output folder
through a temporary file and an atomic rename, so a rerun skips a job whose
output is already there and never sees half a file.

Failures come in two kinds. :class:`PermanentImageError` (not an image, a
truncated or corrupt one, an unsupported format) will fail the same way every
time: the job goes straight to the dead letters. Any other ``OSError`` (a busy
disk, a full one) may pass: the job is retried with the usual backoff.

The work itself is CPU-bound, so it never runs on the hub: ``demo.image_pool``
hands it to a pool of OS processes (or, with ``--pool thread``, to threads;
Pillow releases the GIL while it decodes, resizes and encodes), and
:func:`run_off_hub` runs any other blocking call in gevent's thread pool, so the
hub keeps turning (timers, the dashboard, supervision) while images are made.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from PIL import Image, ImageDraw, ImageFile, ImageOps, UnidentifiedImageError

__all__ = [
    "JOB_TYPES",
    "PermanentImageError",
    "output_path",
    "process",
    "run_off_hub",
    "source_files",
]

JOB_TYPES = ("resize", "thumbnail", "watermark", "compress")
RESIZE_WIDTH = 1024
THUMBNAIL_SIZE = (256, 256)
COMPRESS_QUALITY = 40
WATERMARK_TEXT = "greensup"

# Formats written as they came; anything else is written as PNG, or JPEG for
# compress, which needs a lossy format.
_KEEP_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}

ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, not grey


class PermanentImageError(Exception):
    """The source file cannot be processed, and retrying would not change that."""


def source_files(folder: Path) -> list[Path]:
    """Return the regular, visible files directly in ``folder``, sorted.

    Raises:
        NotADirectoryError: ``folder`` is not a directory.
    """
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is not a directory")
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".")
    )


def output_path(out_dir: Path, source: Path, job_type: str) -> Path:
    """Return where ``job_type`` of ``source`` is written.

    The extension follows the source's own (a compressed image is a JPEG).
    """
    suffix = source.suffix.lower()
    if job_type == "compress" or suffix not in _KEEP_FORMATS.values():
        suffix = ".jpg" if job_type == "compress" else ".png"
    return out_dir / f"{source.stem}.{job_type}{suffix}"


def process(job_type: str, source: Path, out_dir: Path) -> Path:
    """Do ``job_type`` on ``source``, write the result, return its path.

    Skips the work when the output exists already. Blocks the calling thread
    for as long as the work takes: run it in a pool, never on the hub.

    Raises:
        PermanentImageError: the source is not a readable image.
        OSError: reading or writing failed in a way that may pass.
        ValueError: ``job_type`` is not one of :data:`JOB_TYPES`.
    """
    if job_type not in JOB_TYPES:
        raise ValueError(f"unknown image job type {job_type!r}")
    target = output_path(out_dir, source, job_type)
    if target.exists():
        return target

    with _open(source) as image:
        _save(_TRANSFORMS[job_type](image), target, job_type)
    return target


def _open(source: Path) -> Image.Image:
    if source.stat().st_size == 0:
        raise PermanentImageError(f"{source.name} is empty (0 bytes)")
    try:
        image = Image.open(source)
        image.load()
    except UnidentifiedImageError:
        raise PermanentImageError(
            f"{source.name} is not an image Pillow can read"
        ) from None
    except (SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise PermanentImageError(f"{source.name} is corrupt: {exc}") from exc
    except OSError as exc:
        if source.exists() and _is_decode_error(exc):
            raise PermanentImageError(
                f"{source.name} is truncated or corrupt: {exc}"
            ) from exc
        raise
    upright = ImageOps.exif_transpose(image)
    if upright is not image:
        image.close()
    return upright


def _is_decode_error(exc: OSError) -> bool:
    # Pillow reports broken data as a plain OSError without an errno; errors
    # from the operating system (disk, permissions) carry one.
    return exc.errno is None


def _resize(image: Image.Image) -> Image.Image:
    if image.width <= RESIZE_WIDTH:
        return image.copy()
    height = max(1, round(image.height * RESIZE_WIDTH / image.width))
    return image.resize((RESIZE_WIDTH, height), Image.Resampling.LANCZOS)


def _thumbnail(image: Image.Image) -> Image.Image:
    thumb = image.copy()
    thumb.thumbnail(THUMBNAIL_SIZE)
    return thumb


def _watermark(image: Image.Image) -> Image.Image:
    marked = image.convert("RGBA")
    layer = Image.new("RGBA", marked.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    size = max(12, marked.width // 24)
    margin = size // 2
    box = draw.textbbox((0, 0), WATERMARK_TEXT, font_size=size)
    x = marked.width - (box[2] - box[0]) - margin
    y = marked.height - (box[3] - box[1]) - margin
    draw.text((x, y), WATERMARK_TEXT, fill=(255, 255, 255, 160), font_size=size)
    return Image.alpha_composite(marked, layer)


def _compress(image: Image.Image) -> Image.Image:
    return image.convert("RGB")


_TRANSFORMS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "resize": _resize,
    "thumbnail": _thumbnail,
    "watermark": _watermark,
    "compress": _compress,
}


def _save(image: Image.Image, target: Path, job_type: str) -> None:
    options: dict[str, Any] = {}
    suffix = target.suffix
    if suffix == ".jpg":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        options["quality"] = COMPRESS_QUALITY if job_type == "compress" else 90
        if job_type == "compress":
            options["optimize"] = True
    handle, temp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=".part", dir=target.parent
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            image.save(stream, format=_format_of(suffix), **options)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _format_of(suffix: str) -> str:
    if suffix == ".jpg":
        return "JPEG"
    for name, extension in _KEEP_FORMATS.items():
        if extension == suffix:
            return name
    return "PNG"


def run_off_hub(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in gevent's thread pool and return its result.

    Blocks the calling greenlet only: the hub and every other process keep
    running meanwhile. Exceptions from ``fn`` are raised here.
    """
    return gevent.get_hub().threadpool.apply(fn, args)
