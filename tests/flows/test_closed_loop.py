"""The main job, small: the closed-loop flow runs every stage for real and every path it prints exists."""

from __future__ import annotations

from pathlib import Path

from flows.closed_loop import closed_loop, effect_in_words
from proactive_ml.warehouse import Warehouse


def test_closed_loop_runs_every_stage_and_prints_existing_paths(
    prefect_harness: None, tmp_path: Path
) -> None:
    root = tmp_path / "demo"
    h = closed_loop(
        customers=800,
        days=59,
        warmup_days=52,
        retrain_every=4,
        outreach_every=1,
        holdout_share=None,
        data_dir=str(root),
        progress=False,
        employees=4,
    )
    stages = {"world", "ingest", "train", "policy", "outreach", "responses", "desk", "report"}
    assert set(h["stage_seconds"]) == stages
    for key in ("data_docs", "outbox", "report"):
        assert Path(h[key]).exists(), key
    assert Path(h["data_docs"]).name == "index.html"
    assert any(Path(h["outbox"]).glob("*.eml"))
    assert h["emails_sent"] > 0
    assert (root / "mlflow.db").exists()
    assert str(root / "mlflow.db") in h["mlflow_ui"]
    with Warehouse.connect(f"duckdb:///{root / 'warehouse.duckdb'}") as wh:
        # two trainings (warm-up and day 57) per target, each registered; seven days of scores and decisions
        assert wh.scalar("SELECT count(DISTINCT cutoff) FROM scores WHERE target = 'churn'") == 7
        assert wh.scalar("SELECT count(DISTINCT cutoff) FROM scores WHERE target = 'need'") == 7
        arms = set(wh.query("SELECT DISTINCT arm FROM decisions")["arm"])
        assert arms == {"treatment", "holdout"}
        assert wh.scalar("SELECT count(*) FROM send_ledger WHERE state = 'accepted'") == h["emails_sent"]
        assert wh.row_count("email_events") > 0  # the world answered through the signed receiver
        # the simulated people worked their tasks through the desk: closed, audited, and the world felt it
        closed = wh.query("SELECT assignee, closed_by, outcome FROM cs_tasks WHERE state = 'done'")
        assert len(closed) == h["desk_tasks_worked"] > 0
        assert (closed["assignee"] == closed["closed_by"]).all()
        assert wh.scalar("SELECT count(*) FROM desk_audit WHERE action = 'outcome'") == len(closed)
        tasks = wh.query("SELECT arm, assignee FROM decisions WHERE action = 'cs_task'")
        assert tasks["assignee"].notna().all()  # decided before the draw, for both arms
        assert wh.scalar(
            "SELECT role FROM desk_people WHERE username = :u", {"u": h["desk_login"]["username"]}
        ) == ("lead")
    assert "proactive-ml desk serve" in h["desk"]
    page = Path(h["report"]).read_text()
    assert "Recognition: saves credited against the randomized holdout" in page
    assert "Success stories" in page
    assert len(h["desk_login"]["password"]) >= 16
    with Warehouse.connect(f"duckdb:///{root / 'warehouse.duckdb'}") as wh:
        # every decision says which policy made it and how likely its treatment was
        logged = wh.query("SELECT policy, p_treat FROM decisions WHERE action = 'email'")
        assert "risk" in set(logged["policy"])
        assert set(logged["policy"]) <= {
            "risk",
            "explore",
        }  # explore when some eligible customer was not chosen
        assert logged["p_treat"].between(0, 1).all()
        # the policy check ran on day 4 and after impact at the end: no uplift model yet, so risk
        checks = wh.query("SELECT targeting, reason FROM policy_checks")
        assert len(checks) == 2
        assert set(checks["targeting"]) == {"risk"}
    assert h["targeting"] == "risk"
    assert h["policy_check"]["reason"] == checks["reason"].iloc[-1]
    versions = [p for p in (root / "mlartifacts").rglob("MLmodel")]
    assert len(versions) == 4


def test_the_summary_says_whether_the_interval_excludes_zero_and_covers_the_truth() -> None:
    assert effect_in_words((0.01, 0.05), 0.03, 400).startswith("The interval excludes 0: the outreach kept")
    assert "it covers the world's true effect (+0.030)" in effect_in_words((0.01, 0.05), 0.03, 400)
    assert "does not cover" in effect_in_words((0.01, 0.05), 0.08, 400)
    unclear = effect_in_words((-0.02, 0.05), 0.03, 120)
    assert "includes 0: 120 held-out customers are too few" in unclear
    assert "it covers" in unclear
    assert "not known yet" in effect_in_words((-0.02, 0.05), float("nan"), 120)
