"""The desk at work: accounts from the CLI, authority parsing, closing a task, the approval flow, flags, snoozing."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, Type
from tests.desk.seed import PASSWORD, add_customer, add_task, token

from proactive_ml.cli import main
from proactive_ml.desk import accounts, commands
from proactive_ml.desk.accounts import authenticate, create_person, eligible_agents
from proactive_ml.errors import UserError
from proactive_ml.outreach.playbooks import PlaybookError, load_playbooks, parse_playbooks
from proactive_ml.warehouse import Warehouse, open_warehouse


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    return tmp_path / "data" / "warehouse.duckdb"


def test_cli_adds_and_lists_users(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert main(["desk", "add-user", "ann", "--name", "Ann Example", "--role", "agent", "--team", "north",
                 "--password-stdin"]) == 0  # fmt: skip
    assert main(["desk", "add-user", "lee", "--name", "Lee Lead", "--role", "lead", "--generate"]) == 0
    out = capsys.readouterr().out
    one_time = out.split("one-time password (shown once, not stored): ")[1].split()[0]
    assert main(["desk", "list-users"]) == 0
    listing = capsys.readouterr().out
    assert "ann" in listing
    assert "Lee Lead" in listing
    assert one_time not in listing
    assert main(["desk", "add-user", "ann", "--name", "Again", "--role", "agent", "--generate"]) == 2
    assert capsys.readouterr().err.strip() == "error: username 'ann' is taken"
    assert main(["desk", "add-user", "bo", "--name", "Bo", "--role", "agent"]) == 2  # no terminal to ask
    assert "--password-stdin or --generate" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["desk", "add-user", "bo", "--name", "Bo", "--role", "agent", "--password-stdin"]) == 2
    with open_warehouse(f"duckdb:///{cli_env}") as wh:
        assert authenticate(wh, "lee", one_time) is not None
        assert authenticate(wh, "ann", "a long enough password") is not None
        assert authenticate(wh, "ann", one_time) is None
        stored = str(wh.scalar("SELECT password_hash FROM desk_people WHERE username = 'ann'"))
        assert stored.startswith("$argon2id$")
        assert "a long enough password" not in stored
        assert eligible_agents(wh) == ["ann"]


def test_the_shipped_hasher_is_argon2id_with_current_parameters() -> None:
    shipped = PasswordHasher()
    assert shipped.type is Type.ID
    assert shipped.memory_cost >= 64 * 1024
    assert commands.ROLES == accounts.ROLES


def test_accounts_refuse_bad_input(duck: Warehouse) -> None:
    for username, role, password, words in [
        ("Ann Smith", "agent", PASSWORD, "username"),
        ("ann", "boss", PASSWORD, "role"),
        ("ann", "agent", "short", "at least 10"),
    ]:
        with pytest.raises(UserError, match=words):
            create_person(duck, username, "Ann", role, None, password)


def _doc(authority: Any, action: str = "cs_task") -> dict[str, Any]:
    pb: dict[str, Any] = {"name": "care_call", "action": action, "guidance": "Call.", "authority": authority}
    if action == "email":
        pb.update(template="t", subject="s")
    return {"playbooks": [pb]}


@pytest.mark.parametrize(
    ("authority", "message"),
    [
        ([1, 2], "authority must be a mapping with one key, offers"),
        ({"offers": {"a": 1}}, "authority.offers must be a list"),
        (
            {"offers": [{"name": "Discount!", "unit": "percent", "agent_max": 1, "lead_max": 2}]},
            "lowercase slug",
        ),
        (
            {"offers": [{"name": "discount", "unit": "euros", "agent_max": 1, "lead_max": 2}]},
            "unit must be one of",
        ),
        ({"offers": [{"name": "discount", "unit": "percent", "lead_max": 2}]}, "agent_max must be a number"),
        (
            {"offers": [{"name": "discount", "unit": "percent", "agent_max": 20, "lead_max": 10}]},
            "is below agent_max",
        ),
        (
            {"offers": [{"name": "discount", "unit": "percent", "agent_max": 1, "lead_max": 2, "max": 3}]},
            "unknown key",
        ),
        (
            {"offers": [{"name": "d", "unit": "percent", "agent_max": 1, "lead_max": 2}] * 2},
            "lowercase slug",
        ),
        (
            {"offers": [{"name": "discount", "unit": "percent", "agent_max": 1, "lead_max": 2}] * 2},
            "must be unique",
        ),
    ],
)
def test_authority_parsing_errors_name_the_playbook_and_field(authority: Any, message: str) -> None:
    with pytest.raises(PlaybookError, match=message) as info:
        parse_playbooks(_doc(authority))
    assert str(info.value).startswith("care_call")


def test_authority_is_for_cs_task_playbooks_and_ships_per_role() -> None:
    ok = {"offers": [{"name": "discount", "unit": "percent", "agent_max": 1, "lead_max": 2}]}
    with pytest.raises(PlaybookError, match="cs_task playbooks only"):
        parse_playbooks(_doc(ok, "email"))
    discount = load_playbooks().get("high_value_cs_task").authority.get("discount")
    assert discount is not None
    assert (discount.limit_for("agent"), discount.limit_for("lead"), discount.limit_for("admin")) == (
        15,
        30,
        None,
    )


def _post(client: Any, path: str, **form: str) -> Any:
    return client.post(path, data={**form, "csrf_token": token(client)}, follow_redirects=False)


def test_an_outcome_closes_the_task(client_as: Callable[..., Any], seeded: Warehouse) -> None:
    ann = client_as("ann")
    r = _post(ann, "/tasks/task-ann-1/outcome", outcome="reached_undecided", offer="priority_support",
              offer_value="60", offer_accepted="yes", notes="Will decide next week")  # fmt: skip
    assert r.status_code == 303
    assert r.headers["location"] == "/queue"
    row = seeded.query("SELECT * FROM cs_tasks WHERE task_id = 'task-ann-1'").iloc[0]
    assert (row["state"], row["outcome"], row["offer"], row["offer_value"]) == (
        "done", "reached_undecided", "priority_support", 60.0
    )  # fmt: skip
    assert row["closed_by"] == "ann"
    assert str(row["closed_at"]).startswith("2026-11-20")
    assert row["notes"] == "Will decide next week"
    assert "task-ann-1" not in ann.get("/queue").text
    assert "reached: undecided" in ann.get("/tasks/task-ann-1").text
    assert _post(ann, "/tasks/task-ann-1/outcome", outcome="not_reached").status_code == 409
    bad = _post(ann, "/tasks/task-ann-2/outcome", outcome="maybe")
    assert bad.status_code == 400
    assert "outcome: choose one of" in bad.text
    no_value = _post(ann, "/tasks/task-ann-2/outcome", outcome="reached_stay", offer="discount")
    assert no_value.status_code == 400
    assert "offer value" in no_value.text


def test_an_offer_above_authority_needs_an_approval_from_the_team_lead(
    client_as: Callable[..., Any], seeded: Warehouse
) -> None:
    ann, bob, lee, sol, ada = (client_as(u) for u in ("ann", "bob", "lee", "sol", "ada"))
    refused = _post(
        ann, "/tasks/task-ann-1/outcome", outcome="reached_stay", offer="discount", offer_value="20"
    )
    assert refused.status_code == 400
    assert "above what you may offer on your own (15)" in refused.text
    assert 'id="approval-form"' in refused.text  # the page offers to request approval, value kept
    assert 'name="offer_value" inputmode="decimal" value="20"' in refused.text
    assert _post(ann, "/tasks/task-ann-1/approval", offer="discount", offer_value="10").status_code == 400
    assert (
        _post(
            ann, "/tasks/task-ann-1/approval", offer="discount", offer_value="20", reason="price"
        ).status_code
        == 303
    )
    approval = str(seeded.scalar("SELECT approval_id FROM desk_approvals"))
    assert _post(bob, f"/approvals/{approval}", decision="approve").status_code == 404  # agents never decide
    assert _post(sol, f"/approvals/{approval}", decision="approve").status_code == 404  # another team's
    waiting = lee.get("/approvals").text
    assert approval in waiting
    assert "price" in waiting  # the reason the agent gave
    assert _post(lee, f"/approvals/{approval}", decision="approve").status_code == 303
    assert seeded.scalar("SELECT decided_by FROM desk_approvals") == "lee"
    assert _post(lee, f"/approvals/{approval}", decision="refuse").status_code == 409
    assert "approval approved" in ann.get("/tasks/task-ann-1").text  # the task's history
    # approved up to 20: 25 still needs another approval; 20 closes the task
    assert (
        _post(
            ann, "/tasks/task-ann-1/outcome", outcome="reached_stay", offer="discount", offer_value="25"
        ).status_code
        == 400
    )
    assert (
        _post(
            ann, "/tasks/task-ann-1/outcome", outcome="reached_stay", offer="discount", offer_value="20"
        ).status_code
        == 303
    )
    # a lead approves up to the lead's limit; above it only an admin; nobody decides their own request
    assert _post(ann, "/tasks/task-ann-2/approval", offer="discount", offer_value="40").status_code == 303
    big = str(seeded.scalar("SELECT approval_id FROM desk_approvals WHERE offer_value = 40"))
    assert _post(lee, f"/approvals/{big}", decision="approve").status_code == 403
    assert _post(ada, f"/approvals/{big}", decision="approve").status_code == 303
    assert _post(lee, "/tasks/task-bob-1/approval", offer="discount", offer_value="35").status_code == 303
    own = str(seeded.scalar("SELECT approval_id FROM desk_approvals WHERE requested_by = 'lee'"))
    assert _post(lee, f"/approvals/{own}", decision="approve").status_code == 403


def test_flags_feed_the_wrong_rate_and_review_labels(
    client_as: Callable[..., Any], seeded: Warehouse, cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, lee = client_as("ann"), client_as("lee")
    assert (
        _post(ann, "/tasks/task-ann-1/flag", reason='=HYPERLINK("x") they renewed yesterday').status_code
        == 303
    )
    assert _post(ann, "/tasks/task-ann-2/outcome", outcome="reached_stay").status_code == 303
    assert _post(ann, "/tasks/task-ann-2/flag", reason="").status_code == 400
    page = lee.get("/flags").text
    assert 'data-playbook="high_value_cs_task"' in page
    assert "50.0%" in page  # one of the two worked tasks flagged
    # the CLI reads the configured warehouse: copy the world there
    with open_warehouse(f"duckdb:///{cli_env}") as wh:
        for table in ("cs_tasks", "desk_flags"):
            wh.insert_frame(table, seeded.query(f"SELECT * FROM {table}"))
    out = cli_env.parent / "flags.csv"
    assert main(["desk", "flags", "--out", str(out)]) == 0
    assert "high_value_cs_task" in capsys.readouterr().out
    rows = list(csv.DictReader(out.open()))
    assert {r["task_id"]: r["suggestion_wrong"] for r in rows} == {"task-ann-1": "1", "task-ann-2": "0"}
    assert next(r for r in rows if r["task_id"] == "task-ann-1")["flag_reason"].startswith("'=HYPERLINK")


def test_snooze_hides_a_task_until_its_day_and_reassign_moves_it(
    client_as: Callable[..., Any], seeded: Warehouse
) -> None:
    ann, bob = client_as("ann"), client_as("bob")
    assert (
        _post(ann, "/tasks/task-ann-1/snooze", until="2026-11-20", reason="x").status_code == 400
    )  # not later
    assert _post(ann, "/tasks/task-ann-1/snooze", until="2026-11-24", reason="on holiday").status_code == 303
    assert "task-ann-1" not in ann.get("/queue").text
    seeded.execute("UPDATE cs_tasks SET snoozed_until = DATE '2026-11-20' WHERE task_id = 'task-ann-1'")
    assert "task-ann-1" in ann.get("/queue").text  # back on its day
    assert _post(ann, "/tasks/task-ann-2/reassign", assignee="cat").status_code == 400  # another team
    assert _post(ann, "/tasks/task-ann-2/reassign", assignee="bob").status_code == 303
    assert ann.get("/tasks/task-ann-2").status_code == 404
    assert 'data-task-id="task-ann-2"' in bob.get("/queue").text


def test_the_queue_orders_by_expected_value_then_due_date(
    client_as: Callable[..., Any], seeded: Warehouse
) -> None:
    add_customer(seeded, "c9", "Late Co")
    add_task(seeded, "task-ann-3", "c9", "ann", expected_value=900.0)
    seeded.execute("UPDATE cs_tasks SET due_date = DATE '2026-11-21' WHERE task_id = 'task-ann-3'")
    page = client_as("ann").get("/queue").text
    order = [page.index(f'data-task-id="{t}"') for t in ("task-ann-3", "task-ann-1", "task-ann-2")]
    assert order == sorted(order)


def test_guidelines_and_board_render_for_everyone(client_as: Callable[..., Any]) -> None:
    ann = client_as("ann")
    guide = ann.get("/guidelines").text
    assert "discount on the next renewal" in guide
    assert "unresolved_ticket" in guide
    board = ann.get("/board")
    assert board.status_code == 200
    assert "Recognition board" in board.text


def test_tasks_made_while_nobody_was_on_the_desk_are_handed_out_by_a_lead(
    client_as: Callable[..., Any], seeded: Warehouse
) -> None:
    add_customer(seeded, "c8", "Orphan Ltd")
    add_task(seeded, "task-nobody", "c8", None, expected_value=800.0)
    ann, lee, sol = client_as("ann"), client_as("lee"), client_as("sol")
    assert ann.get("/tasks/task-nobody").status_code == 404  # an agent sees only their own
    assert 'id="unassigned"' not in ann.get("/queue").text
    mine = lee.get("/queue").text
    assert "1 open task has nobody to work it yet" in mine
    assert 'data-task-id="task-nobody"' not in mine  # not in their own queue, but pointed at
    team = lee.get("/queue?scope=team").text
    assert 'data-task-id="task-nobody"' in team
    assert "nobody yet" in team
    assert sol.get("/tasks/task-nobody").status_code == 200  # any lead may hand it out
    assert _post(lee, "/tasks/task-nobody/reassign", assignee="cat").status_code == 400  # not lee's team
    assert _post(lee, "/tasks/task-nobody/reassign", assignee="bob").status_code == 303
    assert 'data-task-id="task-nobody"' in client_as("bob").get("/queue").text
    assert "has nobody to work it yet" not in lee.get("/queue").text
    assert sol.get("/tasks/task-nobody").status_code == 404  # now bob's, of the north team


def test_a_customer_without_any_usage_gets_words_not_an_empty_chart(
    client_as: Callable[..., Any], seeded: Warehouse
) -> None:
    add_customer(seeded, "c7", "Snapshot Co")  # a CRM snapshot: no usage events at all
    add_task(seeded, "task-ann-snap", "c7", "ann")
    ann = client_as("ann")
    page = ann.get("/tasks/task-ann-snap").text
    assert 'id="no-usage"' in page
    assert 'aria-label="weekly usage"' not in page
    worked = ann.get("/tasks/task-ann-1").text  # a customer with usage keeps the chart
    assert 'aria-label="weekly usage"' in worked
    assert 'id="no-usage"' not in worked


def test_a_task_of_a_playbook_the_desk_does_not_know_says_which_file_to_read(
    client_as: Callable[..., Any], seeded: Warehouse
) -> None:
    add_task(seeded, "task-ann-other", "c1", "ann", playbook="retention_call")  # from another playbooks file
    page = client_as("ann").get("/tasks/task-ann-other").text
    assert 'id="unknown-playbook"' in page
    assert "PROACTIVE_PLAYBOOKS_FILE" in page
    assert "declares no offers" not in page
    assert 'id="unknown-playbook"' not in client_as("ann").get("/tasks/task-ann-1").text
