"""Who holds a claim: claim tokens name their sender process, so a dead sender's rows are reconciled at once.

A claim token is ``host|pid|start|random``: the host name, the process id and the process start time (clock ticks
since boot, from ``/proc``; guards against a reused pid) of the sender that claimed the rows, plus a random part.
A rerun on the same host can then tell a killed sender (its process is gone) from a live one (still running),
and resolve the dead one's 'sending' rows against the server straight away instead of waiting for the stale
timeout. Claims of other hosts, and tokens without an owner (older rows), fall back to that timeout.
"""

from __future__ import annotations

import os
import socket
import uuid
from functools import lru_cache

SEP = "|"


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), or None without one."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            stat = f.read()
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def _start_ticks(pid: int) -> str | None:
    """The process start time in clock ticks since boot (Linux ``/proc``), or None if the process is not there."""
    fields = _stat(pid)
    return fields[19] if fields and len(fields) > 19 else None  # field 22 of stat; field 3 comes first here


@lru_cache(maxsize=1)
def _host() -> str:
    return socket.gethostname().replace(SEP, "_")


def this_owner() -> str:
    """This process as the owner of a claim: ``host|pid|start``."""
    pid = os.getpid()
    return SEP.join((_host(), str(pid), _start_ticks(pid) or "0"))


def new_token() -> str:
    """A fresh claim token owned by this process."""
    return f"{this_owner()}{SEP}{uuid.uuid4().hex}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def owner_gone(token: object) -> bool:
    """True when the claim's owner is known to be dead: same host, and its process no longer runs.

    False when it may be alive: a live process, another host, or a token that names no owner.
    """
    parts = str(token or "").split(SEP)
    if len(parts) != 4 or parts[0] != _host() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False  # this process: its own senders are alive or have released their rows
    if not _alive(pid):
        return True
    fields = _stat(pid)
    if fields and fields[0] in ("Z", "X"):  # killed, not yet reaped by its parent
        return True
    start = _start_ticks(pid)
    return (
        parts[2] != "0" and start is not None and start != parts[2]
    )  # the pid was reused by another process
