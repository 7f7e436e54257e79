"""A small gevent web service whose parts are supervised by greensup.

Three parts run under one supervisor: the HTTP server (``gevent.pywsgi``), a
background worker that does the jobs the HTTP side accepts, and a periodic job.
Kill any of them and the supervisor starts a new one; the listening socket, the
jobs and the counters live outside those processes, so nothing is lost::

    python examples/service.py --port 8000
    curl -X POST --data 'the quick brown fox' http://127.0.0.1:8000/jobs
    curl http://127.0.0.1:8000/jobs/1
    curl http://127.0.0.1:8000/status
    curl -X POST http://127.0.0.1:8000/kill/worker     # or http, or ticker

Ctrl-C (or SIGTERM) stops it gracefully: the HTTP server first, then the rest.
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

# The imports below come after patching, as in any gevent program.
import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from gevent import pywsgi  # noqa: E402

import greensup  # noqa: E402
from greensup import timer  # noqa: E402

ROOT = "service_sup"
PARTS = ("worker", "ticker", "http")

_log = logging.getLogger("service")


# -- the background worker ----------------------------------------------------


def summarise(text: str) -> dict[str, Any]:
    """The job itself: CPU work, run in gevent's thread pool by the worker."""
    digest = text.encode("utf-8")
    for _ in range(2_000):
        digest = hashlib.sha256(digest).digest()
    return {"words": len(text.split()), "digest": digest.hex()[:16]}


class Worker(greensup.GenServer):
    """Does the jobs the HTTP side queued in the store, one at a time.

    The jobs live in the store, not in the mailbox: a new worker picks up the
    jobs still queued when the previous one died.
    """

    def init(self, store: greensup.Store) -> None:
        self.store = store
        for key, _job in store.select(_is_queued):
            greensup.cast(self.pid, ("run", key))

    def handle_cast(self, request: tuple[str, str]) -> None:
        _verb, key = request
        job = self.store.get(key)
        if job is None or job["state"] != "queued":
            return  # already done by this worker or an earlier one
        pool = gevent.get_hub().threadpool
        result = pool.apply(summarise, (job["text"],))
        self.store.put(key, {**job, "state": "done", "result": result})
        self.store.put("jobs_done", self.store.get("jobs_done", 0) + 1)


def _is_queued(key: str | int, value: Any) -> bool:
    return (
        isinstance(key, str) and key.startswith("job:") and value["state"] == "queued"
    )


# -- the periodic job ---------------------------------------------------------


class Ticker(greensup.GenServer):
    """Counts ticks in the store; stands in for a cleanup or a metrics flush."""

    def init(self, store: greensup.Store, every: float) -> None:
        self.store = store
        timer.send_interval(every, self.pid, "tick")

    def handle_info(self, msg: Any) -> None:
        if msg == "tick":
            self.store.put("ticks", self.store.get("ticks", 0) + 1)


# -- the HTTP server ----------------------------------------------------------


def start_http(listener: socket.socket, store: greensup.Store) -> greensup.Pid:
    """Start the HTTP server's process, linked to the caller (the supervisor)."""
    pid = greensup.spawn_link(serve_http, listener, store)
    greensup.register("http", pid)
    return pid


def serve_http(listener: socket.socket, store: greensup.Store) -> None:
    """Serve HTTP on a copy of ``listener`` until this process is stopped.

    The process owns the server, not the socket: each new server gets its own
    duplicate of the listening socket, so the port stays open while the server
    restarts and clients queue in the backlog instead of being refused. The
    ``finally`` runs however the process ends, ``'kill'`` included.
    """
    server = pywsgi.WSGIServer(listener.dup(), make_app(store), log=None)
    server.start()
    try:
        while True:
            greensup.receive()  # the server runs in its own greenlets
    finally:
        server.stop(timeout=1.0)


def make_app(store: greensup.Store) -> Callable[..., Iterable[bytes]]:
    """Return the WSGI application; it runs in pywsgi's request greenlets."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        status, body = route(store, method, path, environ)
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps(body).encode("utf-8") + b"\n"]

    return app


def route(
    store: greensup.Store, method: str, path: str, environ: dict[str, Any]
) -> tuple[str, Any]:
    """Answer one request: return the status line and a JSON-ready body."""
    if method == "GET" and path == "/":
        server = repr(greensup.whereis("http"))
        return "200 OK", {"hello": "from greensup", "server": server}
    if method == "GET" and path == "/status":
        return "200 OK", status(store)
    if method == "POST" and path == "/jobs":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        text = environ["wsgi.input"].read(size).decode("utf-8")
        return "202 Accepted", {"id": submit(store, text)}
    if method == "GET" and path.startswith("/jobs/"):
        job = store.get("job:" + path.removeprefix("/jobs/"))
        return ("200 OK", job) if job else ("404 Not Found", {"error": "no such job"})
    if method == "POST" and path.startswith("/kill/"):
        part = path.removeprefix("/kill/")
        if part not in PARTS:
            return "404 Not Found", {"error": f"no part {part!r}", "parts": PARTS}
        return "202 Accepted", {"killed": part, "pid": kill(part)}
    return "404 Not Found", {"error": f"no route for {method} {path}"}


def submit(store: greensup.Store, text: str) -> int:
    """Queue a job in the store, then tell the worker; returns the job's id."""
    number = store.get("next_job", 1)
    store.update({"next_job": number + 1, f"job:{number}": _new_job(text)})
    greensup.cast("worker", ("run", f"job:{number}"))
    return number


def _new_job(text: str) -> dict[str, Any]:
    return {"state": "queued", "text": text}


def status(store: greensup.Store) -> dict[str, Any]:
    """Return the supervised parts' pids and the counters."""
    children = greensup.Supervisor.which_children(ROOT)
    return {
        "pids": {child.id: repr(child.pid) for child in children},
        "ticks": store.get("ticks", 0),
        "jobs_done": store.get("jobs_done", 0),
    }


def kill(part: str) -> str:
    """Kill a supervised part the hard way: it cannot trap or clean up in Python
    code other than ``finally`` blocks. Returns the pid it had."""
    for child in greensup.Supervisor.which_children(ROOT):
        if child.id == part and child.pid is not None:
            greensup.exit(child.pid, "kill")
            return repr(child.pid)
    return "not running"


# -- the application ----------------------------------------------------------


class Service(greensup.Application):
    """The supervision tree: worker and ticker first, the HTTP server last.

    Started last, the HTTP server only accepts requests once what they need is
    running, and it is stopped first, so intake ends before the rest goes.
    """

    def __init__(self, listener: socket.socket, tick: float, store_path: str | None):
        self.listener = listener
        self.tick = tick
        self.store_path = store_path
        self.store: greensup.Store | None = None

    def start(self) -> greensup.Pid:
        self.store = store = greensup.Store("service", self.store_path)
        children = [
            greensup.ChildSpec(
                id="worker",
                start=Worker.start_link,
                args=(store,),
                kwargs={"name": "worker"},
            ),
            greensup.ChildSpec(
                id="ticker",
                start=Ticker.start_link,
                args=(store, self.tick),
                kwargs={"name": "ticker"},
            ),
            greensup.ChildSpec(
                id="http", start=start_http, args=(self.listener, store), shutdown=2.0
            ),
        ]
        return greensup.Supervisor.start_link(children, name=ROOT)

    def prep_stop(self) -> None:
        # Stop intake first: no request should find the worker gone.
        greensup.Supervisor.terminate_child(ROOT, "http")

    def stop(self) -> None:
        if self.store is not None:
            self.store.close()


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, listen, and run the service until a signal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free one")
    parser.add_argument("--tick", type=float, default=1.0, help="seconds per tick")
    parser.add_argument("--store", default=None, help="SQLite file (default: memory)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )

    listener = socket.create_server((args.host, args.port), backlog=128)
    host, port = listener.getsockname()[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        return greensup.run(Service(listener, args.tick, args.store))
    finally:
        listener.close()


if __name__ == "__main__":
    sys.exit(main())
