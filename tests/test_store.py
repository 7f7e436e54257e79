"""Tests for the Store: the same behaviour from both backends, and what only the
durable one promises (SIGKILL survival, a second OS process, bad files)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gevent
import gevent.subprocess
import pytest

import greensup
from greensup import Store, StoreError

ROOT = Path(__file__).resolve().parent.parent
NESTED = {
    "int": 12345678901234567890,
    "negative": -7,
    "float": 0.1,
    "bool": True,
    "none": None,
    "text": "naïve café ☕ 日本語 \U0001f600",
    "empty": {"list": [], "dict": {}, "str": ""},
    "list": [1, "two", [3.5, [False, None]], {"deep": {"deeper": [0]}}],
}


@pytest.fixture(params=["memory", "normal", "full"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A store of each kind: in memory, and durable at both sync settings."""
    if request.param == "memory":
        opened = Store("test")
    else:
        opened = Store("test", tmp_path / "test.db", synchronous=request.param)
    with opened:
        yield opened


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


def run_child(script: str, *args: str) -> gevent.subprocess.Popen[str]:
    """Start a Python OS process running ``script`` with greensup importable."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return gevent.subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def read_acks_then_kill(
    child: gevent.subprocess.Popen[str], enough: int, log: Path
) -> int:
    """Read the numbers a child prints after each completed call; once it has
    printed ``enough``, SIGKILL it as soon as it writes to the write-ahead
    ``log`` again, in the middle of a commit; return the last number printed."""
    assert child.stdout is not None and child.stderr is not None
    last = -1
    with gevent.Timeout(60, AssertionError("the child did not print in time")):
        while last < enough:
            line = child.stdout.readline()
            assert line, f"child ended early: {child.stderr.read()}"
            last = int(line)

    def written() -> tuple[int, int]:
        stat = log.stat()
        return stat.st_size, stat.st_mtime_ns

    before = written()
    with gevent.Timeout(60, AssertionError("the child stopped writing")):
        while written() == before:
            gevent.idle()
    child.send_signal(signal.SIGKILL)

    rest, _ = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL
    for line in rest.splitlines():
        last = int(line)
    return last


# Behaviour shared by both backends.


def test_store_get_returns_exactly_what_was_put(store: Store) -> None:
    store.put("nested", NESTED)
    store.put("big", 2**100)
    store.put("unicode", "ünïcödé \U0001f600")

    assert store.get("nested") == NESTED
    assert type(store.get("nested")["int"]) is int
    assert type(store.get("nested")["float"]) is float
    assert store.get("big") == 2**100
    assert store.get("unicode") == "ünïcödé \U0001f600"


def test_store_int_key_and_str_key_with_same_digits_are_different(store: Store) -> None:
    store.put(1, "int")
    store.put("1", "str")

    assert (store.get(1), store.get("1"), len(store)) == ("int", "str", 2)
    assert sorted(store.keys(), key=repr) == ["1", 1]


def test_store_returns_tuples_as_lists(store: Store) -> None:
    store.put("pair", (1, (2, 3)))

    assert store.get("pair") == [1, [2, 3]]


def test_store_get_returns_default_when_key_is_missing(store: Store) -> None:
    assert store.get("missing") is None
    assert store.get("missing", 42) == 42


def test_store_copies_values_in_and_out(store: Store) -> None:
    value = {"items": [1, 2]}
    store.put("k", value)

    value["items"].append(3)
    store.get("k")["items"].append(4)

    assert store.get("k") == {"items": [1, 2]}


def test_store_put_replaces_the_value(store: Store) -> None:
    store.put("k", 1)
    store.put("k", [2])

    assert (store.get("k"), len(store)) == ([2], 1)


def test_store_delete_tells_whether_the_key_was_there(store: Store) -> None:
    store.put("k", 1)

    assert store.delete("k") is True
    assert store.delete("k") is False
    assert "k" not in store


def test_store_lists_keys_values_and_items_as_snapshots(store: Store) -> None:
    store.update({"a": 1, "b": [2], 3: {"c": 3}})

    keys = store.keys()
    store.put("later", 0)

    assert sorted(keys, key=str) == [3, "a", "b"]
    assert sorted(store.values(), key=str) == [0, 1, [2], {"c": 3}]
    assert sorted(store.items(), key=lambda item: str(item[0])) == [
        (3, {"c": 3}),
        ("a", 1),
        ("b", [2]),
        ("later", 0),
    ]
    assert ("a" in store, "z" in store, 3 in store) == (True, False, True)


def test_store_select_returns_the_pairs_the_predicate_accepts(store: Store) -> None:
    store.update({f"job:{i}": {"tries": i % 3} for i in range(9)})

    failed = store.select(lambda key, value: value["tries"] == 2)

    assert sorted(failed) == [
        ("job:2", {"tries": 2}),
        ("job:5", {"tries": 2}),
        ("job:8", {"tries": 2}),
    ]


def test_store_iterates_over_a_snapshot_of_its_keys(store: Store) -> None:
    store.update({"a": 1, "b": 2})

    for key in store:
        store.delete(key)

    assert sorted(store.keys()) == [] and len(store) == 0


def test_store_clear_removes_every_key(store: Store) -> None:
    store.update({"a": 1, "b": 2})

    store.clear()

    assert (len(store), store.keys()) == (0, [])


def test_store_rejects_value_json_cannot_hold_naming_the_key(store: Store) -> None:
    with pytest.raises(
        TypeError,
        match=r"^store 'test': value for key 'bad' is not JSON-serialisable: "
        r"set \{1\} at \['a'\]\[1\]$",
    ):
        store.put("bad", {"a": [0, {1}]})

    assert "bad" not in store


def test_store_rejects_dict_key_that_is_not_a_str(store: Store) -> None:
    with pytest.raises(TypeError, match=r"^store 'test': value for key 7 .*dict key 1"):
        store.put(7, {1: "one"})

    assert 7 not in store


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_store_rejects_nan_and_infinity(store: Store, number: float) -> None:
    with pytest.raises(ValueError, match=r"^store 'test': value for key 'x' holds"):
        store.put("x", [number])

    assert "x" not in store


@pytest.mark.parametrize("key", [1.5, True, None, ("a", 1), b"bytes"])
def test_store_rejects_key_that_is_not_str_or_int(store: Store, key: Any) -> None:
    message = r"^store 'test': key must be a str or an int, got "
    for call in (
        lambda: store.put(key, 1),
        lambda: store.get(key),
        lambda: store.delete(key),
        lambda: key in store,
    ):
        with pytest.raises(TypeError, match=message):
            call()

    assert len(store) == 0


def test_store_rejects_a_key_with_a_lone_surrogate_everywhere(store: Store) -> None:
    for call in (
        lambda: store.put("\ud800", 1),
        lambda: store.get("\ud800"),
        lambda: store.delete("\ud800"),
        lambda: "\ud800" in store,
    ):
        with pytest.raises(ValueError, match=r"has a lone surrogate$"):
            call()


def test_store_rejects_int_key_beyond_64_bits(store: Store) -> None:
    with pytest.raises(ValueError, match=r"does not fit in 64 bits$"):
        store.put(2**63, "too big")

    assert len(store) == 0


def test_store_update_writes_nothing_when_one_value_is_bad(store: Store) -> None:
    store.put("a", "old")

    with pytest.raises(TypeError, match=r"value for key 'c' is not JSON"):
        store.update({"a": "new", "b": 2, "c": object()})

    assert store.items() == [("a", "old")]


def test_store_update_rejects_something_that_is_not_a_mapping(store: Store) -> None:
    with pytest.raises(
        TypeError, match=r"^store 'test': update takes a mapping, got list$"
    ):
        store.update([("a", 1)])  # type: ignore[arg-type]

    assert len(store) == 0


def test_store_transaction_commits_everything_on_a_clean_exit(store: Store) -> None:
    store.update({"pending:1": {"job": 1}, "pending:2": {"job": 2}})

    with store.transaction() as batch:
        batch.delete("pending:1")
        batch.put("dead:1", {"job": 1})

    assert sorted(store.keys()) == ["dead:1", "pending:2"]


def test_store_transaction_writes_nothing_when_its_block_raises(store: Store) -> None:
    store.put("pending:1", {"job": 1})

    with pytest.raises(RuntimeError), store.transaction() as batch:
        batch.delete("pending:1")
        batch.put("dead:1", {"job": 1})
        raise RuntimeError("changed my mind")

    assert store.keys() == ["pending:1"]


def test_store_transaction_cannot_be_reused(store: Store) -> None:
    with store.transaction() as batch:
        batch.put("a", 1)

    with pytest.raises(StoreError, match=r"^store 'test': transaction has already"):
        batch.put("b", 2)


def test_store_closed_store_raises_store_error(store: Store) -> None:
    store.close()
    store.close()

    assert store.closed
    for call in (
        lambda: store.put("a", 1),
        lambda: store.get("a"),
        store.keys,
        lambda: len(store),
    ):
        with pytest.raises(StoreError, match=r"^store 'test' is closed$"):
            call()


def test_store_has_a_name_and_a_short_repr(tmp_path: Path) -> None:
    memory = Store("jobs")
    durable = Store("dead letters", tmp_path / "dead.db")

    assert (memory.name, memory.path) == ("jobs", None)
    assert repr(memory) == "<Store 'jobs' in memory>"
    assert re.fullmatch(r"<Store 'dead letters' at '/[^>]*>", repr(durable))
    assert len(repr(durable)) < 90
    durable.close()
    assert repr(durable).endswith(" closed>")


def test_store_serves_hundreds_of_greenlets_at_once(store: Store) -> None:
    def worker(n: int) -> None:
        store.put(f"g:{n}", {"n": n})
        assert store.get(f"g:{n}") == {"n": n}
        store.update({f"a:{n}": n, f"b:{n}": n})
        store.put("shared", n)

    greenlets = [gevent.spawn(worker, n) for n in range(300)]
    gevent.joinall(greenlets, timeout=60, raise_error=True)

    assert all(g.successful() for g in greenlets)
    assert len(store) == 3 * 300 + 1
    assert sorted(store.get(f"g:{n}")["n"] for n in range(300)) == list(range(300))
    assert store.get("shared") in range(300)


# The durable store.


def test_durable_store_keeps_values_after_reopening(path: Path) -> None:
    with Store("s", path) as store:
        store.update({"nested": NESTED, 5: "five"})

    with Store("s", path) as store:
        assert (store.get("nested"), store.get(5)) == (NESTED, "five")


def test_durable_store_lets_other_greenlets_run_while_it_writes(path: Path) -> None:
    ran: list[str] = []
    with Store("s", path) as store:
        gevent.spawn(ran.append, "other")

        store.put("k", 1)

        assert ran == ["other"]


def test_durable_store_stays_usable_after_a_put_is_interrupted(path: Path) -> None:
    with Store("s", path) as store:
        writer = gevent.spawn(store.put, "interrupted", 1)
        gevent.sleep(0)  # the writer runs first, until it waits for the commit
        assert not writer.dead
        writer.kill()

        store.put("next", 2)

        assert store.get("next") == 2
        assert store.get("interrupted") in (None, 1)


def test_durable_store_refuses_writes_from_another_thread(path: Path) -> None:
    errors: list[BaseException] = []
    with Store("s", path) as store:

        def write() -> None:
            try:
                store.put("k", 1)
            except StoreError as exc:
                errors.append(exc)

        thread = threading.Thread(target=write)
        thread.start()
        gevent.get_hub().threadpool.apply(thread.join)

        assert [str(e) for e in errors] == [
            "store 's' was opened in another thread; "
            "write to it from the thread that opened it"
        ]
        assert "k" not in store


def test_durable_put_survives_sigkill_of_the_os_process(path: Path) -> None:
    child = run_child(
        """
        import sys, greensup
        store = greensup.Store("kill", sys.argv[1])
        i = 0
        while True:
            store.put(f"k{i}", {"i": i, "text": "é" * i})
            print(i, flush=True)
            i += 1
        """,
        str(path),
    )

    last = read_acks_then_kill(child, 200, Path(f"{path}-wal"))

    with Store("kill", path) as store:
        for i in range(last + 1):
            assert store.get(f"k{i}") == {"i": i, "text": "é" * i}


def test_durable_update_lands_whole_or_not_at_all_across_sigkill(path: Path) -> None:
    child = run_child(
        """
        import sys, greensup
        store = greensup.Store("batch", sys.argv[1])
        n = 0
        while True:
            store.update({f"k{j}": {"batch": n, "pad": "x" * 500} for j in range(200)})
            print(n, flush=True)
            n += 1
        """,
        str(path),
    )

    last = read_acks_then_kill(child, 20, Path(f"{path}-wal"))

    with Store("batch", path) as store:
        batches = {store.get(f"k{j}")["batch"] for j in range(200)}
    assert len(batches) == 1
    assert batches.pop() >= last


def test_durable_store_shares_its_file_with_a_second_os_process(path: Path) -> None:
    store = Store("shared", path)
    child = run_child(
        """
        import sys, greensup
        store = greensup.Store("shared", sys.argv[1])
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(400):
            store.put(f"child:{i}", i)
            store.update({f"pair:{i}:a": i, f"pair:{i}:b": i})
        print(len(store.keys()) > 0, flush=True)
        """,
        str(path),
    )
    assert child.stdout is not None and child.stdin is not None
    assert child.stdout.readline() == "ready\n"

    def writer(n: int) -> None:
        for i in range(n, 2000, 100):
            store.put(f"parent:{i}", i)
            assert store.get(f"parent:{i}") == i

    child.stdin.write("go\n")
    child.stdin.flush()
    gevent.joinall([gevent.spawn(writer, n) for n in range(100)], raise_error=True)
    out, err = child.communicate(timeout=60)

    assert (child.returncode, out, err) == (0, "True\n", "")
    assert len(store) == 2000 + 3 * 400
    assert [store.get(f"child:{i}") for i in range(400)] == list(range(400))
    store.close()


def test_durable_store_raises_store_error_when_a_lock_outlasts_its_timeout(
    path: Path,
) -> None:
    store = Store("s", path, timeout=0.2)
    store.put("k", "before")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    with pytest.raises(
        StoreError,
        match=rf"^store 's': cannot write to '{path}': it stayed locked by another "
        r"connection for 0.2s \(database is locked\)$",
    ):
        store.put("k", "after")

    assert store.get("k") == "before"
    other.execute("ROLLBACK")
    other.close()
    store.put("k", "after")
    assert store.get("k") == "after"
    store.close()


def test_durable_store_can_be_read_by_the_sqlite3_command_line_tool(path: Path) -> None:
    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 command-line tool is not installed")
    with Store("s", path) as store:
        store.update({1: "one", "1": {"word": "ünë"}})

    out = subprocess.run(
        ["sqlite3", str(path), "SELECT key, typeof(key), value FROM store ORDER BY 1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    schema = subprocess.run(
        ["sqlite3", str(path), ".schema"], capture_output=True, text=True, check=True
    ).stdout

    assert out == '1|integer|"one"\n1|text|{"word":"ünë"}\n'
    assert "CREATE TABLE store" in schema


def test_durable_store_in_a_missing_directory_raises_store_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "missing" / "x.db"

    with pytest.raises(
        StoreError,
        match=rf"^store 's': cannot open '{path}': directory '{path.parent}' "
        "does not exist$",
    ):
        Store("s", path)


def test_durable_store_in_a_read_only_directory_raises_store_error(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "read-only"
    directory.mkdir()

    with _read_only(directory):
        with pytest.raises(StoreError, match=rf"^store 's': cannot open '{directory}"):
            Store("s", directory / "x.db")

        assert list(directory.iterdir()) == []


def test_durable_store_refuses_a_file_that_is_not_sqlite(path: Path) -> None:
    path.write_text("just some notes\n" * 100)

    with pytest.raises(
        StoreError,
        match=rf"^store 's': cannot open '{path}': the file is not an SQLite database",
    ):
        Store("s", path)

    assert path.read_text() == "just some notes\n" * 100
    assert sorted(p.name for p in path.parent.iterdir()) == ["store.db"]


def test_durable_store_refuses_another_applications_database(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (name TEXT)")
    conn.commit()
    conn.close()
    before = path.read_bytes()

    with pytest.raises(
        StoreError, match=r"it is an SQLite database but not a greensup"
    ):
        Store("s", path)

    assert path.read_bytes() == before


def test_durable_store_reports_a_corrupt_file_naming_it(path: Path) -> None:
    with Store("s", path) as store:
        store.update({f"key:{i}": {"pad": "x" * 200} for i in range(2000)})
    with open(path, "r+b") as file:
        file.seek(3 * 4096)
        file.write(b"\xa5" * 8 * 4096)

    with pytest.raises(
        StoreError,
        match=rf"^store 's': cannot \w+ '{path}': the "
        "database file is corrupt",
    ):
        with Store("s", path) as store:
            store.items()


def test_durable_store_rejects_bad_options(path: Path) -> None:
    with pytest.raises(ValueError, match=r"^synchronous must be 'normal' or 'full'"):
        Store("s", path, synchronous="off")  # type: ignore[arg-type]

    assert not path.exists()


@contextlib.contextmanager
def _read_only(directory: Path) -> Iterator[None]:
    """Make ``directory`` unwritable, for root too (which ignores mode bits)."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o755)
        return
    if (
        shutil.which("chattr") is None
        or subprocess.run(
            ["chattr", "+i", str(directory)], capture_output=True
        ).returncode
    ):
        pytest.skip("running as root without chattr +i: cannot make a read-only dir")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_store_errors_are_greensup_errors() -> None:
    assert issubclass(StoreError, greensup.GreensupError)


def test_store_benchmark_prints_its_tables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location(
        "bench_store", ROOT / "benchmarks" / "bench_store.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    tiny = {"memory": 200, "durable": 20, "crowd": 100, "stall": 10}
    monkeypatch.setattr(bench, "QUICK_SIZES", tiny)

    assert bench.main(["--quick"]) == 0

    out = capsys.readouterr().out
    for title in (
        "in memory: Store vs dict",
        "synchronous=normal: Store vs plain",
        "100 greenlets",
        "longest hub stall",
    ):
        assert title in out
