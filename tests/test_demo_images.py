"""Real image work: outputs, permanent failures, reruns, and the hub kept turning."""

from __future__ import annotations

import time
from pathlib import Path

import gevent
import pytest
from PIL import Image

from demo import images
from tests.image_files import make_image_folder


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    source, out = make_image_folder(tmp_path, photo=(1600, 1200), logo=(300, 200))
    (source / ".hidden.jpg").write_bytes((source / "photo.jpg").read_bytes())
    return source, out


def test_source_files_lists_visible_files_in_order(folders) -> None:
    source, _ = folders

    names = [p.name for p in images.source_files(source)]

    assert names == ["empty.jpg", "logo.png", "notes.jpg", "photo.jpg", "truncated.jpg"]


@pytest.mark.parametrize(
    ("job_type", "size", "image_format"),
    [
        ("resize", (1024, 768), "JPEG"),
        ("thumbnail", (256, 192), "JPEG"),
        ("watermark", (1600, 1200), "JPEG"),
        ("compress", (1600, 1200), "JPEG"),
    ],
)
def test_each_job_type_writes_the_expected_image(
    folders, job_type, size, image_format
) -> None:
    source, out = folders

    target = images.process(job_type, source / "photo.jpg", out)

    assert target == out / f"photo.{job_type}.jpg"
    with Image.open(target) as result:
        assert result.size == size and result.format == image_format


def test_compress_writes_a_smaller_jpeg(folders) -> None:
    source, out = folders

    target = images.process("compress", source / "photo.jpg", out)

    assert target.stat().st_size < (source / "photo.jpg").stat().st_size


def test_watermark_changes_the_pixels_in_a_corner_only(folders) -> None:
    source, out = folders

    target = images.process("watermark", source / "logo.png", out)

    with Image.open(source / "logo.png") as before, Image.open(target) as after:
        assert after.format == "PNG"
        assert before.convert("RGBA").getpixel((5, 5)) == after.getpixel((5, 5))
        assert before.convert("RGBA").tobytes() != after.tobytes()


def test_a_png_keeps_its_format_except_when_compressed(folders) -> None:
    source, out = folders

    thumb = images.process("thumbnail", source / "logo.png", out)
    small = images.process("compress", source / "logo.png", out)

    assert thumb.name == "logo.thumbnail.png" and small.name == "logo.compress.jpg"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated.jpg", r"^truncated\.jpg is truncated or corrupt: "),
        ("empty.jpg", r"^empty\.jpg is empty \(0 bytes\)$"),
        ("notes.jpg", r"^notes\.jpg is not an image Pillow can read$"),
    ],
)
def test_broken_sources_fail_permanently_with_a_clear_reason(
    folders, name, message
) -> None:
    source, out = folders

    with pytest.raises(images.PermanentImageError, match=message):
        images.process("resize", source / name, out)

    assert list(out.iterdir()) == []


def test_a_rerun_skips_work_already_done(folders) -> None:
    source, out = folders
    first = images.process("thumbnail", source / "photo.jpg", out)
    stamp = first.stat().st_mtime_ns
    (source / "photo.jpg").write_bytes(b"")  # would fail if it were read again

    second = images.process("thumbnail", source / "photo.jpg", out)

    assert second == first and second.stat().st_mtime_ns == stamp


def test_a_missing_output_folder_is_an_os_error_not_a_permanent_one(folders) -> None:
    source, out = folders

    with pytest.raises(OSError) as info:
        images.process("resize", source / "photo.jpg", out / "missing")

    assert not isinstance(info.value, images.PermanentImageError)


def test_unknown_job_type_raises_value_error(folders) -> None:
    source, out = folders

    with pytest.raises(ValueError, match=r"^unknown image job type 'blur'$"):
        images.process("blur", source / "photo.jpg", out)


def test_run_off_hub_keeps_timers_running_while_the_work_runs() -> None:
    ticks = []

    def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            gevent.sleep(0.005)

    def cpu_bound() -> int:
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            time.sleep(0.001)  # a thread that holds the OS thread, not the hub
        return 7

    glet = gevent.spawn(ticker)
    gevent.sleep(0)

    result = images.run_off_hub(cpu_bound)
    glet.kill()

    assert result == 7
    assert len(ticks) > 10  # the hub kept turning while the thread worked
