"""The simulated people at work: they log in to the desk and work their queue through its own HTTP interface.

Each person has a browser of their own (a Starlette ``TestClient`` on the real desk application, with its own
cookies): ``GET /login`` for the form's CSRF token, ``POST /login``, then every day ``GET /queue`` (rows carry
``data-task-id``), ``GET /tasks/{id}`` (its forms carry the session's CSRF token) and ``POST /tasks/{id}/outcome``
with what they did (:func:`~proactive_ml.sim.employees.choose_outcome`). Nothing here writes to the warehouse
directly: the desk records, audits and refuses exactly as it would for a person in a browser.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd

with (
    warnings.catch_warnings()
):  # Starlette nags about its httpx backend (a UserWarning); the client works the same
    warnings.filterwarnings("ignore", message=".*httpx.*")
    from starlette.testclient import TestClient

from proactive_ml.desk.accounts import create_person, generate_password
from proactive_ml.sim.employees import TEAM, Employee, StaffConfig, choose_outcome
from proactive_ml.warehouse import Warehouse

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
TASK_ID = re.compile(r'data-task-id="([^"]+)"')
DEMO_LEAD = "desk.lead"


class DeskError(RuntimeError):
    """The desk answered a simulated person in a way a person could not go on from (a bug, not a refusal)."""


def register_staff(wh: Warehouse, staff: list[Employee], now: datetime) -> None:
    """Create the simulated people as desk people (their passwords are hashed by the desk; kept in memory only)."""
    for e in staff:
        create_person(wh, e.username, e.display_name, e.role, e.team, e.password, now)


def register_demo_lead(wh: Warehouse, now: datetime) -> tuple[str, str]:
    """A lead account for whoever runs the demo: (username, one-time password), the password shown once."""
    password = generate_password()
    create_person(wh, DEMO_LEAD, "Desk Lead (demo)", "lead", TEAM, password, now)
    return DEMO_LEAD, password


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    if not found:
        raise DeskError("the desk page has no CSRF token")
    return found.group(1)


class DeskBrowser:
    """One person's session on the desk."""

    def __init__(self, app: Any, person: Employee) -> None:
        self.person = person
        self.client = TestClient(app, follow_redirects=False)
        self.logged_in = False

    def login(self) -> None:
        """``GET /login`` then ``POST /login`` with the form's token; raises DeskError when refused."""
        token = _csrf(self.client.get("/login").text)
        form = {"username": self.person.username, "password": self.person.password, "csrf_token": token}
        r = self.client.post("/login", data=form)
        if r.status_code != 303 or not r.headers.get("location", "").endswith("/queue"):
            raise DeskError(f"login refused for a simulated person (HTTP {r.status_code})")
        self.logged_in = True

    def queue(self) -> list[str]:
        """The task ids on my queue, in the desk's order."""
        if not self.logged_in:
            self.login()
        r = self.client.get("/queue")
        if r.status_code != 200:
            raise DeskError(f"queue: HTTP {r.status_code}")
        return list(dict.fromkeys(TASK_ID.findall(r.text)))

    def record(self, task_id: str, form: dict[str, str]) -> bool:
        """Open the task and post its outcome; True when the desk closed it."""
        page = self.client.get(f"/tasks/{task_id}")
        if page.status_code != 200:
            return False
        r = self.client.post(f"/tasks/{task_id}/outcome", data={**form, "csrf_token": _csrf(page.text)})
        return r.status_code == 303 and r.headers.get("location", "").endswith("/queue")


class DeskStaff:
    """The simulated people working the desk application ``app`` day after day (one browser each)."""

    def __init__(
        self,
        app: Any,
        staff: list[Employee],
        seed: int,
        config: StaffConfig | None = None,
        capacity: int | None = None,
    ) -> None:
        self.browsers = [DeskBrowser(app, e) for e in staff]
        self.seed, self.config, self.capacity = seed, config or StaffConfig(), capacity

    def work_day(
        self,
        choose: Callable[[Employee, str], dict[str, str]] | None = None,
        people: set[str] | None = None,
    ) -> pd.DataFrame:
        """Every person (or those in ``people``) works the open tasks on their queue (up to ``capacity`` each).

        Returns task_id, person, outcome of each task the desk closed. ``people`` spares a login to those with
        nothing to do (a person opens the desk when they have work).
        """
        pick = choose or (lambda e, t: choose_outcome(e, t, self.seed, self.config))
        done: list[tuple[str, str, str]] = []
        for b in self.browsers:
            if people is not None and b.person.username not in people:
                continue
            for task_id in b.queue()[: self.capacity]:
                form = pick(b.person, task_id)
                if b.record(task_id, form):
                    done.append((task_id, b.person.username, form["outcome"]))
        return pd.DataFrame(done, columns=["task_id", "person", "outcome"])


def closed_tasks(wh: Warehouse, task_ids: list[str]) -> pd.DataFrame:
    """The desk's record of these tasks: task_id, customer_id, closed_by, outcome (what the world reacts to)."""
    if not task_ids:
        return pd.DataFrame(columns=["task_id", "customer_id", "closed_by", "outcome"])
    params = {f"t{i}": t for i, t in enumerate(task_ids)}
    marks = ", ".join(f":{k}" for k in params)
    return wh.query(
        f"SELECT task_id, customer_id, closed_by, outcome FROM cs_tasks WHERE state = 'done' AND task_id IN ({marks})",
        params,
    )


class DemoDesk:
    """The desk inside the closed-loop demo: its people, their day's work, and the work's effect on the world.

    On enter: the simulated people start becoming desk people, in a thread of its own (hashing two dozen
    passwords takes seconds, the warm-up is long); :meth:`ready` waits for them (call it before the first outreach,
    which assigns tasks among them). :meth:`work` after each day's outreach: each person with open tasks logs in
    (once) and works their queue at the simulated time, and what the desk recorded is applied to the world. On
    exit: a lead account for whoever runs the demo is created (:attr:`login`, shown once).
    """

    def __init__(self, settings: Any, world: Any, n_people: int, config: StaffConfig | None = None) -> None:
        from proactive_ml.sim.employees import make_staff

        self.settings, self.world = settings, world
        self.config = config or StaffConfig(n_people=n_people, effect_days=world.config.effect_days)
        self.staff = make_staff(world.config.seed, self.config) if n_people else []
        self.now = datetime.combine(world.today, datetime.min.time())
        self.worked = 0
        self.login: tuple[str, str] | None = None

    def __enter__(self) -> DemoDesk:
        from proactive_ml.desk.app import create_app

        self.wh = Warehouse.connect(self.settings.resolved_warehouse_url)
        self._joining = threading.Thread(target=self._register, name="desk-staff", daemon=True)
        self._joining.start()
        app = create_app(self.wh, self.settings, clock=lambda: self.now)
        self.people = DeskStaff(app, self.staff, self.world.config.seed, self.config)
        return self

    def _register(self) -> None:
        try:
            with Warehouse.connect(self.settings.resolved_warehouse_url) as wh:
                register_staff(wh, self.staff, self.now)
        except BaseException as exc:  # handed to ready(), in the demo's own thread
            self._failed: BaseException | None = exc

    def ready(self) -> None:
        """Wait until every simulated person is a desk person (raises what registering them raised)."""
        self._joining.join()
        failed = self.__dict__.get("_failed")
        if failed is not None:
            raise failed

    def work(self, as_of: datetime) -> int:
        """Everybody works their queue at ``as_of``; the world feels what the desk recorded. Tasks closed."""
        from proactive_ml.sim.employees import work_effects

        self.now = as_of + pd.Timedelta(hours=1)
        if not self.staff:
            return 0
        self.ready()
        waiting = self.wh.query("SELECT DISTINCT assignee FROM cs_tasks WHERE state = 'open'")["assignee"]
        done = self.people.work_day(people=set(waiting.dropna().astype(str)))
        effects = work_effects(closed_tasks(self.wh, done["task_id"].tolist()), self.staff, self.config)
        self.world.apply_work(effects, self.world.day, self.config.effect_days)
        self.worked += len(done)
        return len(done)

    def __exit__(self, *exc: object) -> None:
        self._joining.join()
        try:
            if exc[0] is None:
                self.login = register_demo_lead(self.wh, self.now)
        finally:
            self.wh.close()
