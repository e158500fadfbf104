"""Who holds a claim: claim tokens name their sender process, so a dead sender's rows are reconciled at once.

A claim token is ``host|pid|start|session|random``: the host name, the process id and the process start time
(clock ticks since boot, from ``/proc``; guards against a reused pid) of the sender that claimed the rows, its
warehouse session where the database names one (PostgreSQL: backend pid and start, see :data:`PG_SESSION_SQL`),
plus a random part. A rerun can then tell a killed sender from a live one -- on the same host by its process, on
any host by its PostgreSQL session (a killed process's connection ends with it) -- and resolve the dead one's
'sending' rows against the server straight away instead of waiting for the stale timeout. Claims whose owner may
be alive, and tokens without an owner (older rows), fall back to that timeout.
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


# one text per live PostgreSQL session: backend pid and start time (microseconds since the epoch)
PG_SESSION_SQL = (
    "CAST(pid AS TEXT) || ':' || CAST(CAST(extract(epoch FROM backend_start) * 1000000 AS BIGINT) AS TEXT)"
)


def new_token(session: str = "") -> str:
    """A fresh claim token owned by this process (and by warehouse ``session``, when there is one)."""
    return SEP.join((this_owner(), session.replace(SEP, "_"), uuid.uuid4().hex))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def owner_gone(token: object, live_sessions: set[str] | None = None) -> bool:
    """True when the claim's owner is known to be dead.

    Dead: its warehouse session is not among ``live_sessions`` (when given and the token names one), or it ran on
    this host and its process no longer runs (or the pid now belongs to another process). False when it may be
    alive: a live process or session, another host without a session, or a token that names no owner.
    """
    parts = str(token or "").split(SEP)
    if len(parts) != 5:
        return False
    if parts[3] and live_sessions is not None and parts[3] not in live_sessions:
        return True
    if parts[0] != _host() or not parts[1].isdigit():
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
