"""Small image folders for the image-mode tests: real photos and broken files."""

from __future__ import annotations

from pathlib import Path

from PIL import Image


def make_photo(path: Path, size: tuple[int, int]) -> None:
    """Write a noisy JPEG of ``size``, so that encoding it is real work."""
    width, height = size
    noise = Image.effect_noise((width // 4, height // 4), 50).convert("RGB")
    noise.resize(size).save(path, quality=90)


def make_image_folder(
    root: Path, photo: tuple[int, int], logo: tuple[int, int]
) -> tuple[Path, Path]:
    """Make ``root/in`` with a photo, a logo, and a truncated, an empty and a
    text file named .jpg; and an empty ``root/out``. Returns both."""
    source, out = root / "in", root / "out"
    source.mkdir()
    out.mkdir()
    make_photo(source / "photo.jpg", photo)
    Image.new("RGBA", logo, (10, 200, 30, 128)).save(source / "logo.png")
    data = (source / "photo.jpg").read_bytes()
    (source / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (source / "empty.jpg").write_bytes(b"")
    (source / "notes.jpg").write_text("this is not a picture")
    return source, out
