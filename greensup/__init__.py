"""greensup: Erlang/OTP-style processes, GenServers and supervisors for gevent.

Everything public is importable from here; timers also as ``greensup.timer``.
"""

from __future__ import annotations

from greensup import timer
from greensup._application import (
    Application,
    run,
    start_application,
    stop_application,
)
from greensup._dynamic_supervisor import DynamicSupervisor
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
    ProcessExit,
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
from greensup._store import Store, StoreError, Transaction
from greensup._supervision import (
    ChildInfo,
    TreeNode,
    format_tree,
    supervision_tree,
)
from greensup._supervisor import Supervisor
from greensup._types import ChildSpec, Down, Exit, Ref, make_ref
from greensup.timer import TimerRef

__all__ = [
    "AlreadyRegistered",
    "AlreadyStarted",
    "Application",
    "CallTimeout",
    "Caller",
    "ChildInfo",
    "ChildSpec",
    "Down",
    "DynamicSupervisor",
    "Exit",
    "GenServer",
    "GreensupError",
    "MaxChildren",
    "NoProc",
    "NoReply",
    "NotFound",
    "Pid",
    "ProcessExit",
    "ReceiveTimeout",
    "Ref",
    "ServerExit",
    "StartError",
    "Stop",
    "Store",
    "StoreError",
    "Supervisor",
    "TimerRef",
    "Transaction",
    "TreeNode",
    "call",
    "cast",
    "demonitor",
    "exit",
    "format_tree",
    "link",
    "make_ref",
    "monitor",
    "receive",
    "register",
    "registered",
    "run",
    "self_pid",
    "send",
    "spawn",
    "spawn_link",
    "spawn_monitor",
    "start_application",
    "stop",
    "stop_application",
    "supervision_tree",
    "timer",
    "trap_exit",
    "unlink",
    "unregister",
    "whereis",
]
