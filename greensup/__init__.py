"""greensup: Erlang/OTP-style processes, GenServers and supervisors for gevent.

Everything public is importable from here; timers also as ``greensup.timer``.
"""

from __future__ import annotations

from greensup import timer
from greensup._errors import (
    AlreadyRegistered,
    AlreadyStarted,
    CallTimeout,
    GreensupError,
    MaxChildren,
    NoProc,
    NotFound,
    ReceiveTimeout,
    ServerExit,
    StartError,
)
from greensup._genserver import Caller, GenServer, NoReply, Stop, call, cast, stop
from greensup._process import (
    Pid,
    demonitor,
    exit,
    link,
    monitor,
    receive,
    register,
    registered,
    self_pid,
    send,
    spawn,
    spawn_link,
    spawn_monitor,
    trap_exit,
    unlink,
    unregister,
    whereis,
)
from greensup._types import ChildSpec, Down, Exit, Ref, make_ref
from greensup.timer import TimerRef

__all__ = [
    "AlreadyRegistered",
    "AlreadyStarted",
    "CallTimeout",
    "Caller",
    "ChildSpec",
    "Down",
    "Exit",
    "GenServer",
    "GreensupError",
    "MaxChildren",
    "NoProc",
    "NoReply",
    "NotFound",
    "Pid",
    "ReceiveTimeout",
    "Ref",
    "ServerExit",
    "StartError",
    "Stop",
    "TimerRef",
    "call",
    "cast",
    "demonitor",
    "exit",
    "link",
    "make_ref",
    "monitor",
    "receive",
    "register",
    "registered",
    "self_pid",
    "send",
    "spawn",
    "spawn_link",
    "spawn_monitor",
    "stop",
    "timer",
    "trap_exit",
    "unlink",
    "unregister",
    "whereis",
]
