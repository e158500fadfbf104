"""Fixtures of the desk tests: a seeded warehouse (see seed.py), the real app on it, logged-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient
from tests.desk.seed import NOW, light_hasher, login, seed

from proactive_ml.desk.accounts import LoginLimiter
from proactive_ml.desk.app import create_app
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse


@pytest.fixture(autouse=True)
def _light_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    light_hasher(monkeypatch)


def make_app(wh: Warehouse, settings: Settings, limiter: LoginLimiter | None = None) -> Starlette:
    """The real desk app on ``wh`` with the tests' clock."""
    return create_app(wh, settings, clock=lambda: NOW, limiter=limiter)


@pytest.fixture
def seeded(duck: Warehouse) -> Warehouse:
    """The embedded warehouse with the desk world of seed.py."""
    seed(duck)
    return duck


@pytest.fixture
def app(seeded: Warehouse, settings: Settings) -> Starlette:
    return make_app(seeded, settings)


@pytest.fixture
def client_as(app: Starlette) -> Iterator[Callable[[str | None], Any]]:
    """``client_as("ann")``: a client logged in as ann (None: anonymous)."""
    clients: list[TestClient] = []

    def make(username: str | None) -> Any:
        c = TestClient(app)
        clients.append(c)
        if username:
            assert login(c, username).status_code == 303
        return c

    yield make
    for c in clients:
        c.close()
