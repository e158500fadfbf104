"""People of the desk: accounts with a role and a team, argon2id password hashes, and the login rate limit.

Roles: ``agent`` works the tasks assigned to them; ``lead`` also sees their team's tasks and approves offers above
an agent's authority; ``admin`` sees everything. A password is stored only as an argon2id hash (argon2-cffi's
current defaults, rehashed on login when those defaults change). Nothing here logs a password or a customer's data.
"""

from __future__ import annotations

import functools
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from proactive_ml.errors import UserError
from proactive_ml.warehouse import Warehouse

ROLES = ("agent", "lead", "admin")
MIN_PASSWORD_CHARS = 10
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified when the username is unknown, so an unknown name takes as long as a wrong password."""
    return _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Person:
    """One person of the desk (never carries the password hash beyond :func:`authenticate`)."""

    username: str
    display_name: str
    role: str
    team: str | None
    active: bool = True


def _check_new_person(username: str, display_name: str, role: str, password: str) -> None:
    if not _USERNAME.match(username):
        raise UserError(
            f"username {username!r}: use 2-40 lowercase letters, digits, '.', '_' or '-' (starting with a "
            "letter or digit)"
        )
    if role not in ROLES:
        raise UserError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    if not display_name.strip() or len(display_name) > 100 or any(c in display_name for c in "\r\n\0"):
        raise UserError("display name: one line of 1-100 characters")
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"password: at least {MIN_PASSWORD_CHARS} characters")


def create_person(
    wh: Warehouse,
    username: str,
    display_name: str,
    role: str,
    team: str | None,
    password: str,
    now: datetime | None = None,
) -> None:
    """Add a person to the desk (UserError for a taken username, an unknown role or a short password)."""
    _check_new_person(username, display_name, role, password)
    with wh.transaction():
        if wh.scalar("SELECT count(*) FROM desk_people WHERE username = :u", {"u": username}):
            raise UserError(f"username {username!r} is taken")
        wh.execute(
            "INSERT INTO desk_people (username, display_name, role, team, password_hash, active, created_at) "
            "VALUES (:u, :n, :r, :t, :h, TRUE, :now)",
            {
                "u": username,
                "n": display_name.strip(),
                "r": role,
                "t": (team or "").strip() or None,
                "h": _HASHER.hash(password),
                "now": now or datetime.now(UTC).replace(tzinfo=None),
            },
        )


def generate_password() -> str:
    """A random one-time password (16 URL-safe characters, about 96 bits)."""
    return secrets.token_urlsafe(12)


def _person(row: pd.Series) -> Person:
    team = row["team"]
    return Person(
        username=str(row["username"]),
        display_name=str(row["display_name"]),
        role=str(row["role"]),
        team=None if team is None or pd.isna(team) else str(team),
        active=bool(row["active"]),
    )


def get_person(wh: Warehouse, username: str) -> Person | None:
    """The person called ``username`` (active or not), or None."""
    df = wh.query(
        "SELECT username, display_name, role, team, active FROM desk_people WHERE username = :u",
        {"u": username},
    )
    return None if df.empty else _person(df.iloc[0])


def list_people(wh: Warehouse) -> list[Person]:
    """Every person of the desk, by team and username."""
    df = wh.query(
        "SELECT username, display_name, role, team, active FROM desk_people ORDER BY team NULLS FIRST, username"
    )
    return [_person(r) for _, r in df.iterrows()]


def eligible_agents(wh: Warehouse) -> list[str]:
    """Usernames of the active agents, sorted: the people a task may be drawn for when the account has no owner."""
    df = wh.query("SELECT username FROM desk_people WHERE role = 'agent' AND active ORDER BY username")
    return [str(u) for u in df["username"]]


def authenticate(wh: Warehouse, username: str, password: str) -> Person | None:
    """The active person whose password this is, or None (same work whether the username exists or not)."""
    df = wh.query(
        "SELECT username, display_name, role, team, active, password_hash FROM desk_people WHERE username = :u",
        {"u": username},
    )
    stored = _dummy_hash() if df.empty else str(df.iloc[0]["password_hash"])
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if df.empty or not bool(df.iloc[0]["active"]):
        return None
    if _HASHER.check_needs_rehash(stored):
        wh.execute(
            "UPDATE desk_people SET password_hash = :h WHERE username = :u",
            {"h": _HASHER.hash(password), "u": username},
        )
    return _person(df.iloc[0])


class LoginLimiter:
    """In-process sliding window over failed logins, per username and per client address.

    After ``max_failures`` wrong passwords within ``window_seconds`` for a username (or from a client), the next
    attempt is refused outright, even with the right password, until the oldest failure leaves the window.
    """

    def __init__(
        self, max_failures: int = 9, window_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> int:
        """Failures of ``key`` still in the window (a key with none left is forgotten: memory stays bounded)."""
        q = self._failures.get(key)
        while q and q[0] <= now - self.window:
            q.popleft()
        if q is not None and not q:
            del self._failures[key]
        return len(q or ())

    def blocked(self, keys: Iterable[str]) -> bool:
        """True when any key has used up its failures in the window."""
        now = self.clock()
        with self._lock:
            return any(self._recent(k, now) >= self.max_failures for k in keys)

    def failed(self, keys: Iterable[str]) -> None:
        """Count one failed attempt against each key."""
        now = self.clock()
        with self._lock:
            for k in keys:
                self._recent(k, now)
                self._failures.setdefault(k, deque()).append(now)
