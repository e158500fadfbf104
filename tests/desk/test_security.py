"""The desk's security battery: anonymous requests, CSRF, other people's tasks, escaping, login limit, audit trail."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient
from tests.desk.conftest import make_app
from tests.desk.seed import EVIL, PASSWORD, audit_actions, login, seed, token

from proactive_ml.desk.accounts import LoginLimiter
from proactive_ml.desk.pages import ROUTES
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

TASK_POSTS = ("outcome", "approval", "flag", "reassign", "snooze")
VALID_FORMS = {  # a form each task route would accept for ann's own task
    "outcome": {"outcome": "reached_stay", "notes": "ok"},
    "approval": {"offer": "discount", "offer_value": "20", "reason": "price"},
    "flag": {"reason": "not at risk"},
    "reassign": {"assignee": "bob"},
    "snooze": {"until": "2026-11-25", "reason": "on holiday"},
}


def _routes(app: Starlette) -> list[tuple[str, str]]:
    out = []
    for r in app.routes:
        assert isinstance(r, Route)
        for m in sorted((r.methods or set()) - {"HEAD"}):
            out.append((m, r.path.replace("{task_id}", "task-ann-1").replace("{approval_id}", "x")))
    return out


def test_every_route_refuses_an_anonymous_request(app: Starlette) -> None:
    routes = _routes(app)
    assert len(routes) >= len(ROUTES) + 3  # login (GET, POST), logout and every page
    anonymous = TestClient(app)
    for method, path in routes:
        if path == "/login":
            continue
        r = anonymous.request(method, path, data={"csrf_token": "x"}, follow_redirects=False)
        assert r.status_code == 303, (method, path, r.status_code)
        assert r.headers["location"] == "/login", (method, path)
        assert "Acme" not in r.text
        assert "task-ann" not in r.text


def test_forms_without_or_with_a_wrong_csrf_token_are_refused(
    client_as: Callable[..., Any], seeded: Warehouse
) -> None:
    ann = client_as("ann")
    lee = client_as("lee")
    for name in TASK_POSTS:
        for bad in ({}, {"csrf_token": "not-the-token"}, {"csrf_token": ""}):
            r = ann.post(
                f"/tasks/task-ann-1/{name}", data={**VALID_FORMS[name], **bad}, follow_redirects=False
            )
            assert r.status_code == 403, (name, bad, r.status_code)
    assert lee.post("/approvals/x", data={"decision": "approve"}).status_code == 403
    assert ann.post("/logout", data={"csrf_token": token(lee)}, follow_redirects=False).status_code == 403
    # the login form has its own token: a cross-site login attempt is refused before the password is checked
    assert (
        TestClient(ann.app).post("/login", data={"username": "ann", "password": PASSWORD}).status_code == 403
    )
    assert audit_actions(seeded) == []
    assert seeded.scalar("SELECT state FROM cs_tasks WHERE task_id = 'task-ann-1'") == "open"


@pytest.mark.parametrize("path", ["/tasks/task-bob-1", "/tasks/task-cat-1", "/tasks/no-such-task"])
def test_an_agent_cannot_read_or_change_another_agents_task(
    client_as: Callable[..., Any], seeded: Warehouse, path: str
) -> None:
    ann = client_as("ann")
    r = ann.get(path)
    assert r.status_code == 404
    assert "Bobs Customer" not in r.text
    assert "Southern" not in r.text
    t = token(ann)
    for name in TASK_POSTS:
        r = ann.post(f"{path}/{name}", data={**VALID_FORMS[name], "csrf_token": t}, follow_redirects=False)
        assert r.status_code == 404, (path, name, r.status_code)
    queue = ann.get("/queue").text
    assert 'data-task-id="task-ann-1"' in queue
    assert "task-bob-1" not in queue
    assert audit_actions(seeded) == []
    assert seeded.scalar("SELECT count(*) FROM cs_tasks WHERE state = 'open'") == 4


def test_leads_see_their_team_and_admins_everything(client_as: Callable[..., Any]) -> None:
    lee, sol, ada = client_as("lee"), client_as("sol"), client_as("ada")
    assert lee.get("/tasks/task-bob-1").status_code == 200  # north
    assert lee.get("/tasks/task-cat-1").status_code == 404  # south
    assert sol.get("/tasks/task-cat-1").status_code == 200
    assert sol.get("/tasks/task-ann-1").status_code == 404
    assert all(ada.get(f"/tasks/{t}").status_code == 200 for t in ("task-ann-1", "task-bob-1", "task-cat-1"))
    assert "task-cat-1" not in lee.get("/queue?scope=team").text
    assert client_as("ann").get("/flags").status_code == 403


def test_customer_names_and_notes_with_script_are_escaped(
    client_as: Callable[..., Any], seeded: Warehouse
) -> None:
    ann = client_as("ann")
    queue = ann.get("/queue").text  # before it closes
    r = ann.post(
        "/tasks/task-ann-2/outcome",
        data={"csrf_token": token(ann), "outcome": "reached_stay", "notes": EVIL},
        follow_redirects=False,
    )
    assert r.status_code == 303
    seeded.execute("UPDATE feedback SET comment = :c WHERE customer_id = 'c2'", {"c": EVIL})
    for page in (queue, ann.get("/tasks/task-ann-2").text):
        assert "<script>" not in page
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert seeded.scalar("SELECT notes FROM cs_tasks WHERE task_id = 'task-ann-2'") == EVIL  # stored as typed
    csp = ann.get("/queue").headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp


def test_the_tenth_wrong_password_within_a_minute_is_refused_even_if_correct(
    seeded: Warehouse, settings: Settings
) -> None:
    clock = [1000.0]
    app = make_app(seeded, settings, LoginLimiter(clock=lambda: clock[0]))
    with TestClient(app) as c:
        for _ in range(9):
            assert login(c, "ann", "wrong password!").status_code == 401
        assert login(c, "ann", PASSWORD).status_code == 429  # the 10th: refused, right password or not
        assert login(c, "bob", PASSWORD).status_code == 429  # the same client is held back too
        clock[0] += 61  # the window slides past the failures
        assert login(c, "ann", PASSWORD).status_code == 303


def test_session_cookie_is_signed_http_only_and_expires(
    client_as: Callable[..., Any], seeded: Warehouse
) -> None:
    c = TestClient(client_as(None).app)
    r = login(c, "ann")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "max-age=28800" in cookie
    value = c.cookies.get("desk_session")
    assert value
    assert len(value.split(".")) == 3  # payload.timestamp.signature (itsdangerous): signed, dated
    c.cookies.set("desk_session", value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB"))
    assert c.get("/queue", follow_redirects=False).status_code == 303  # a tampered cookie is no session


def test_an_old_session_is_refused_by_the_server(
    client_as: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import itsdangerous.timed

    ann = client_as("ann")
    assert ann.get("/queue", follow_redirects=False).status_code == 200
    later = itsdangerous.timed.TimestampSigner.get_timestamp(None) + 8 * 3600 + 5  # type: ignore[arg-type]
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: later)
    r = ann.get("/queue", follow_redirects=False)  # the cookie is still sent; its signature is too old
    assert r.status_code == 303
    assert r.headers["location"] == "/login"


def test_production_cookie_is_secure(seeded: Warehouse, tmp_path: Any) -> None:
    from pydantic import SecretStr

    s = Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=tmp_path,
        env="production",
        signing_secret=SecretStr("s" * 40),
        inbound_secret=SecretStr("i" * 40),
        desk_secret=SecretStr("d" * 40),
        sendgrid_api_key=SecretStr("SG.real"),
        webhook_public_key="MFkw",
        sendgrid_host="https://api.sendgrid.com",
    )
    with TestClient(make_app(seeded, s), base_url="https://testserver") as c:
        assert "secure" in login(c, "ann").headers["set-cookie"].lower()


@pytest.fixture
def wh_app(wh: Warehouse, settings: Settings) -> Starlette:
    """The desk on each backend (DuckDB and PostgreSQL)."""
    seed(wh)
    return make_app(wh, settings)


def test_the_audit_table_records_every_change(wh: Warehouse, wh_app: Starlette) -> None:
    ann, lee = TestClient(wh_app), TestClient(wh_app)
    assert login(ann, "ann").status_code == 303
    assert login(lee, "lee").status_code == 303
    t = token(ann)

    def post(client: TestClient, path: str, **form: str) -> int:
        tok = t if client is ann else token(lee)
        return client.post(path, data={**form, "csrf_token": tok}, follow_redirects=False).status_code

    assert post(ann, "/tasks/task-ann-2/reassign", assignee="bob") == 303
    assert post(ann, "/tasks/task-ann-1/snooze", until="2026-11-23", reason="travelling") == 303
    assert post(ann, "/tasks/task-ann-1/flag", reason="they just renewed") == 303
    assert post(ann, "/tasks/task-ann-1/approval", offer="discount", offer_value="25", reason="price") == 303
    approval = wh.scalar("SELECT approval_id FROM desk_approvals")
    assert post(lee, f"/approvals/{approval}", decision="approve") == 303
    assert (
        post(ann, "/tasks/task-ann-1/outcome", outcome="reached_stay", offer="discount", offer_value="25")
        == 303
    )
    assert post(ann, "/tasks/task-ann-1/outcome", outcome="not_reached") == 409  # refused: nothing recorded

    trail = wh.query("SELECT actor, task_id, action, detail FROM desk_audit")
    assert sorted(trail["action"]) == sorted(
        ["reassign", "snooze", "flag", "approval_requested", "approval_approved", "outcome"]
    )
    by_action = {a: (actor, task, json.loads(d)) for actor, task, a, d in trail.itertuples(index=False)}
    assert by_action["reassign"] == ("ann", "task-ann-2", {"from": "ann", "to": "bob"})
    assert by_action["approval_approved"][0] == "lee"
    assert by_action["outcome"][2]["offer_value"] == 25.0
    assert "travelling" not in trail["detail"].str.cat()  # free text stays out of the trail
    assert wh.scalar("SELECT decided_by FROM desk_approvals") == "lee"
    for path in ("/queue?scope=team", "/tasks/task-ann-1", "/approvals", "/flags", "/board", "/guidelines"):
        assert lee.get(path).status_code == 200, path  # every page reads this backend
