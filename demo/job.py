"""Jobs, their types and the seeded simulation of every attempt.

A job is an immutable value. Whether an attempt succeeds, fails with a
transient error or crashes its worker, and how long it takes, depends only on
the job's ``fault_seed``, the attempt number and the fault rates, never on
scheduling: the same ``--seed`` gives the same jobs and the same faults.
"""

from __future__ import annotations

import itertools
import random
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = [
    "DONE_VERB",
    "JOB_TYPES",
    "MAX_ATTEMPTS",
    "MAX_RETRIES",
    "AttemptPlan",
    "Job",
    "JobFactory",
    "Outcome",
    "Simulation",
    "WorkerCrash",
    "backoff",
]

#: Cost range of each job type in simulated seconds, all inside 200 ms - 2 s.
JOB_TYPES: Mapping[str, tuple[float, float]] = {
    "compress": (0.8, 2.0),
    "resize": (0.4, 1.4),
    "thumbnail": (0.2, 0.6),
    "watermark": (0.5, 1.2),
}

#: How the activity log says that a job of each type was done.
DONE_VERB: Mapping[str, str] = {
    "compress": "compressed",
    "resize": "resized",
    "thumbnail": "thumbnailed",
    "watermark": "watermarked",
}

#: Retries a job gets in all, whatever made its attempts fail.
MAX_RETRIES = 3
#: Attempts after which a job goes to the dead-letter store.
MAX_ATTEMPTS = MAX_RETRIES + 1

#: How an attempt ends. The simulation plans ``ok``, ``fail`` and ``crash``;
#: ``permanent`` (an error that would recur) sends the job to the dead letters
#: without a retry, for work that can tell.
Outcome = Literal["ok", "fail", "crash", "permanent"]

_TRANSIENT_ERRORS = (
    "storage timed out reading {file}",
    "image service busy (503) for {file}",
    "lost connection to the image cache",
    "temporary file quota exceeded while writing {file}",
)
_CRASHES = (
    "segmentation fault in the image codec while {verb} {file}",
    "out of memory decoding {file}",
    "corrupt colour profile in {file} aborted the decoder",
)
_CRASH_VERB = {
    "compress": "compressing",
    "resize": "resizing",
    "thumbnail": "thumbnailing",
    "watermark": "watermarking",
}


class WorkerCrash(Exception):
    """Raised inside a worker to simulate a fault that kills its process."""


def backoff(retry: int, speed: float = 1.0) -> float:
    """Return the delay before retry number ``retry`` (1-based): 1 s, 2 s, 4 s.

    Args:
        retry: which retry this is, from 1 to :data:`MAX_RETRIES`.
        speed: the simulation speed; the delay is divided by it.

    Raises:
        ValueError: ``retry`` is below 1.
    """
    if retry < 1:
        raise ValueError(f"retry number must be at least 1, not {retry}")
    return 2.0 ** (retry - 1) / speed


@dataclass(frozen=True)
class Job:
    """One image-processing job.

    Attributes:
        id: unique across runs: 128 random bits in hex.
        type: one of :data:`JOB_TYPES`.
        file_name: the image the job works on.
        fault_seed: seeds the simulation of each attempt.
        attempts: attempts that have failed or crashed so far.
        errors: one message per failed attempt, oldest first.
        submitted_at: wall-clock time of submission (``time.time()``).
    """

    id: str
    type: str
    file_name: str
    fault_seed: int
    attempts: int = 0
    errors: tuple[str, ...] = ()
    submitted_at: float = 0.0

    @property
    def short_id(self) -> str:
        """The first eight characters of the id, for display."""
        return self.id[:8]

    def after_failure(self, error: str) -> Job:
        """Return this job with one more failed attempt and its error recorded."""
        return replace(self, attempts=self.attempts + 1, errors=(*self.errors, error))

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form, the inverse of :meth:`from_dict`."""
        return {
            "id": self.id,
            "type": self.type,
            "file_name": self.file_name,
            "fault_seed": self.fault_seed,
            "attempts": self.attempts,
            "errors": list(self.errors),
            "submitted_at": self.submitted_at,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Job:
        """Rebuild a job from :meth:`to_dict` output.

        Raises:
            ValueError: ``data`` is not a well-formed job.
        """
        try:
            job = cls(
                id=_typed(data["id"], str),
                type=_typed(data["type"], str),
                file_name=_typed(data["file_name"], str),
                fault_seed=_typed(data["fault_seed"], int),
                attempts=_typed(data["attempts"], int),
                errors=tuple(_typed(e, str) for e in _typed(data["errors"], list)),
                submitted_at=float(_typed(data["submitted_at"], (int, float))),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed job record: {exc!r}") from None
        if job.type not in JOB_TYPES or job.attempts < 0:
            raise ValueError(f"malformed job record: type={job.type!r}")
        return job


def _typed(value: Any, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(f"unexpected {type(value).__name__} value {value!r}")
    return value


@dataclass(frozen=True)
class AttemptPlan:
    """What one attempt of a job will do.

    Attributes:
        duration: real seconds the attempt runs before it ends (already scaled).
        outcome: ``'ok'``, ``'fail'`` (a transient error) or ``'crash'``.
        error: the error or crash message, None for ``'ok'``.
    """

    duration: float
    outcome: Outcome
    error: str | None = None


@dataclass(frozen=True)
class Simulation:
    """The simulated cost and faults of job attempts.

    Args:
        failure_rate: share of attempts that fail with a transient error.
        crash_rate: share of attempts that crash their worker (checked first,
            so the two rates may add up to more than 1).
        speed: divides every duration.
        cost_scale: multiplies every cost; 0 makes jobs free.
    """

    failure_rate: float = 0.2
    crash_rate: float = 0.05
    speed: float = 1.0
    cost_scale: float = 1.0

    def plan(self, job: Job, attempt: int) -> AttemptPlan:
        """Return the plan of attempt number ``attempt`` (1-based) of ``job``.

        The result depends only on the arguments and this simulation. Never blocks.
        """
        size, roll, cut, choice = _draws(job.fault_seed, attempt)
        low, high = JOB_TYPES[job.type]
        cost = (low + (high - low) * size) * self.cost_scale / self.speed
        share = 0.2 + 0.7 * cut
        pick = int(choice * len(_TRANSIENT_ERRORS) * len(_CRASHES))
        words = {"file": job.file_name, "verb": _CRASH_VERB[job.type]}

        if roll < self.crash_rate:
            message = _CRASHES[pick % len(_CRASHES)].format(**words)
            return AttemptPlan(cost * share, "crash", message)
        if roll < self.crash_rate + self.failure_rate:
            message = _TRANSIENT_ERRORS[pick % len(_TRANSIENT_ERRORS)].format(**words)
            return AttemptPlan(cost * share, "fail", message)
        return AttemptPlan(cost, "ok")


_MASK = (1 << 64) - 1
_TWO_TO_53 = float(1 << 53)


def _draws(seed: int, attempt: int) -> tuple[float, float, float, float]:
    """Return four floats in [0, 1) determined by ``seed`` and ``attempt``.

    SplitMix64: far cheaper than seeding a ``random.Random`` for each attempt.
    """
    state = (seed * 0x9E3779B97F4A7C15 + attempt * 0xD1B54A32D192ED03) & _MASK
    draws = []
    for _ in range(4):
        state = (state + 0x9E3779B97F4A7C15) & _MASK
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        draws.append(((z ^ (z >> 31)) >> 11) / _TWO_TO_53)
    return draws[0], draws[1], draws[2], draws[3]


class JobFactory:
    """Make new jobs: types, file names and fault seeds from a seeded generator.

    Ids are 128 random bits whatever the seed, so they stay unique across runs.

    Args:
        seed: seeds the generator; None for a different sequence every run.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._numbers = itertools.count(1)
        self._types = sorted(JOB_TYPES)

    def make(self) -> Job:
        """Return a new job. Never blocks."""
        number = next(self._numbers)
        return Job(
            id=secrets.token_hex(16),
            type=self._rng.choice(self._types),
            file_name=f"photo_{number:03d}.jpg",
            fault_seed=self._rng.getrandbits(48),
            submitted_at=time.time(),
        )

    def make_for(self, job_type: str, file_name: str) -> Job:
        """Return a new job of ``job_type`` on ``file_name``. Never blocks."""
        return Job(
            id=secrets.token_hex(16),
            type=job_type,
            file_name=file_name,
            fault_seed=self._rng.getrandbits(48),
            submitted_at=time.time(),
        )
