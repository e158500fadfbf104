"""A small desk world for the tests: five people in two teams, customers with context, open tasks, a login helper.

Passwords are hashed with argon2id at light parameters (:func:`light_hasher`): the same algorithm and code path,
a fraction of the time (the shipped parameters are checked in test_desk.py).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from argon2 import PasswordHasher

from proactive_ml.desk import accounts
from proactive_ml.warehouse import Warehouse

NOW = datetime(2026, 11, 20, 10, 0)
TODAY = NOW.date()
PASSWORD = "correct horse battery"
PEOPLE = [  # username, display name, role, team
    ("ann", "Ann Agent", "agent", "north"),
    ("bob", "Bob Agent", "agent", "north"),
    ("cat", "Cat Agent", "agent", "south"),
    ("lee", "Lee Lead", "lead", "north"),
    ("sol", "Sol Lead", "lead", "south"),
    ("ada", "Ada Admin", "admin", None),
]
EVIL = "<script>alert('x')</script>"
LIGHT = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def light_hasher(monkeypatch: Any) -> None:
    """Hash and verify with light argon2id parameters for the rest of the test."""
    monkeypatch.setattr(accounts, "_HASHER", LIGHT)


def add_people(wh: Warehouse) -> None:
    """The people of :data:`PEOPLE`, all with :data:`PASSWORD`."""
    for username, name, role, team in PEOPLE:
        accounts.create_person(wh, username, name, role, team, PASSWORD, now=NOW)


def add_customer(wh: Warehouse, customer_id: str, name: str, **extra: Any) -> None:
    """One customer (enterprise plan unless said otherwise)."""
    row = {
        "customer_id": customer_id,
        "email": f"{customer_id}@example.org",
        "name": name,
        "plan": "enterprise",
        "signup_date": pd.Timestamp("2024-01-15"),
        "country": "DE",
        "timezone": "Europe/Berlin",
        "monthly_revenue": 1500.0,
        "marketing_consent": True,
        "cancelled_at": pd.NaT,
        "locale": "en",
        "owner": None,
        **extra,
    }
    wh.insert_frame("customers", pd.DataFrame([row]))


def add_task(
    wh: Warehouse,
    task_id: str,
    customer_id: str,
    assignee: str | None,
    expected_value: float = 500.0,
    as_of: date = TODAY,
    playbook: str = "high_value_cs_task",
) -> None:
    """One open CS task."""
    wh.execute(
        """INSERT INTO cs_tasks (task_id, as_of, customer_id, playbook, priority, expected_value, score, reasons,
                                 guidance, state, created_at, assignee, due_date, updated_at)
           VALUES (:t, :as_of, :c, :p, 1, :ev, 0.27, :reasons, :g, 'open', :now, :a, :due, :now)""",
        {
            "t": task_id,
            "as_of": as_of,
            "c": customer_id,
            "p": playbook,
            "ev": expected_value,
            "reasons": "usage down 40% over 30 days|2 unresolved ticket(s)",
            "g": "Call within 2 business days. Listen first.",
            "now": NOW,
            "a": assignee,
            "due": as_of + timedelta(days=2),
        },
    )


def add_context(wh: Warehouse, customer_id: str) -> None:
    """A ticket, a survey answer and a few weeks of usage for one customer."""
    wh.insert_frame(
        "tickets",
        pd.DataFrame(
            [
                {
                    "ticket_id": f"t-{customer_id}",
                    "customer_id": customer_id,
                    "opened_at": NOW - timedelta(days=9),
                    "closed_at": pd.NaT,
                    "priority": "high",
                    "category": "billing",
                    "status": "open",
                    "subject": "Invoice export fails",
                    "assignee": "support",
                }
            ]
        ),
    )
    wh.insert_frame(
        "feedback",
        pd.DataFrame(
            [
                {
                    "feedback_id": f"f-{customer_id}",
                    "customer_id": customer_id,
                    "survey_type": "nps",
                    "ts": NOW - timedelta(days=5),
                    "score": 4,
                    "comment": "Reports are slow lately",
                }
            ]
        ),
    )
    usage = pd.DataFrame(
        {
            "customer_id": customer_id,
            "ts": [NOW - timedelta(days=d) for d in range(1, 80, 3)],
            "feature": "reports",
            "quantity": 1,
            "value": 0.0,
            "event_id": [f"e-{customer_id}-{d}" for d in range(1, 80, 3)],
        }
    )
    wh.insert_frame("usage_events", usage)


def seed(wh: Warehouse) -> None:
    """People, four customers (one with a hostile name) and their open tasks: two for ann, one each for bob, cat."""
    add_people(wh)
    add_customer(wh, "c1", "Acme GmbH")
    add_customer(wh, "c2", EVIL)
    add_customer(wh, "c3", "Bobs Customer Ltd")
    add_customer(wh, "c4", "Southern Co")
    for c in ("c1", "c2", "c3", "c4"):
        add_context(wh, c)
    add_task(wh, "task-ann-1", "c1", "ann", expected_value=900.0)
    add_task(wh, "task-ann-2", "c2", "ann", expected_value=300.0)
    add_task(wh, "task-bob-1", "c3", "bob")
    add_task(wh, "task-cat-1", "c4", "cat")


def csrf_of(html: str) -> str:
    """The CSRF token in a page's first form."""
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "no csrf_token in the page"
    return m.group(1)


def login(client: Any, username: str, password: str = PASSWORD) -> Any:
    """Log ``client`` in as ``username``; returns the POST /login response (303 on success)."""
    token = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def token(client: Any, path: str = "/queue") -> str:
    """The logged-in session's CSRF token (read from a page)."""
    return csrf_of(client.get(path).text)


def audit_actions(wh: Warehouse) -> list[str]:
    """The audit trail's actions, oldest first."""
    df = wh.query("SELECT action FROM desk_audit ORDER BY created_at, audit_id")
    return [str(a) for a in df["action"]]
