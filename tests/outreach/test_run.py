"""run_outreach end to end (both backends) and the CLI commands: preview, outreach, tasks export."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from proactive_ml.cli import main
from proactive_ml.identity import email_hash
from proactive_ml.modeling import registry
from proactive_ml.outreach.playbooks import PlaybookConfig, load_playbooks
from proactive_ml.outreach.run import run_outreach
from proactive_ml.responses.suppressions import add_suppression
from proactive_ml.settings import Settings
from proactive_ml.sim.outreach_samples import ZONES, make_customers, seed_warehouse
from proactive_ml.sim.sink import start_sink_in_thread
from proactive_ml.warehouse import Warehouse

CUTOFF = date(2026, 11, 23)


@pytest.fixture
def sink(settings: Settings) -> Iterator[tuple[Settings, Any]]:
    url, stop, ctl = start_sink_in_thread(settings)
    yield settings.model_copy(update={"sendgrid_host": url}), ctl
    stop()


def populate(wh: Warehouse, n: int = 400) -> pd.DataFrame:
    c = make_customers(n, seed=5, consent_share=0.8, zones=ZONES)
    c.loc[: n // 4, "signup_date"] = date(2026, 11, 1)  # new accounts
    c.loc[n // 2 : n // 2 + 20, "cancelled_at"] = datetime(2026, 11, 20)
    seed_warehouse(wh, c, CUTOFF, seed=5, low=0.2)
    t = c.sample(n // 5, random_state=1)
    wh.insert_frame(
        "tickets",
        pd.DataFrame(
            {
                "ticket_id": t["customer_id"] + "-t",
                "customer_id": t["customer_id"],
                "opened_at": datetime(2026, 11, 15),
                "closed_at": None,
                "priority": "high",
                "category": "bug",
                "status": "open",
            }
        ),
    )
    f = c.sample(n // 5, random_state=2)
    wh.insert_frame(
        "feedback",
        pd.DataFrame(
            {
                "feedback_id": f["customer_id"] + "-f",
                "customer_id": f["customer_id"],
                "survey_type": "NPS",
                "ts": datetime(2026, 11, 18),
                "score": 3,
                "comment": "meh",
            }
        ),
    )
    return c


def test_run_outreach_end_to_end(wh: Warehouse, sink: tuple[Settings, Any]) -> None:
    s, ctl = sink
    c = populate(wh)
    add_suppression(
        wh, email=c.loc[300, "email"], reason="unsubscribe", source="test", at=datetime(2026, 11, 1)
    )
    add_suppression(
        wh,
        email=c.loc[301, "email"],
        customer_id=c.loc[301, "customer_id"],
        reason="erased",
        source="test",
        at=datetime(2026, 11, 1),
    )
    out = run_outreach(wh, s, date(2026, 11, 24), tasks_csv=s.reports_dir / "tasks.csv")
    assert out["decided"] == out["treated"] + out["held_out"] > 0
    assert out["held_out"] > 0
    assert out["sent"] + out["deferred"] + out["dead_lettered"] + out["failed"] == wh.row_count("send_ledger")
    assert out["deferred"] > 0  # Tokyo and Sydney customers are in their quiet hours at 14:00 UTC
    assert out["tasks"] > 0
    assert Path(out["tasks_csv"]).exists()
    lines = [json.loads(x) for x in (s.outbox_dir / "accepted.jsonl").read_text().splitlines()]
    assert len(lines) == out["sent"]
    info = c.set_index("email")
    bad = {c.loc[300, "email"], c.loc[301, "email"]}
    for x in lines:
        assert x["to"] not in bad
        assert bool(info.loc[x["to"], "marketing_consent"])
        assert pd.isna(info.loc[x["to"], "cancelled_at"])
    dec = wh.query("SELECT * FROM decisions")
    assert set(dec["arm"]) == {"treatment", "holdout"}
    assert dec["send_key"].is_unique
    assert set(dec.loc[dec["arm"] == "holdout", "holdout_kind"]) <= {"global", "playbook"}
    assert not dec["customer_id"].isin([c.loc[300, "customer_id"], c.loc[301, "customer_id"]]).any()
    held = set(dec.loc[dec["arm"] == "holdout", "send_key"])
    assert not held & {x["send_key"] for x in lines}  # holdouts get nothing
    rows = list(csv.DictReader(Path(out["tasks_csv"]).read_text(encoding="utf-8").splitlines()))
    assert len(rows) == out["tasks"]
    assert all(r["guidance"] and r["playbook"] == "high_value_cs_task" for r in rows)
    # rerun the same day: nothing new, nothing sent twice
    again = run_outreach(wh, s, date(2026, 11, 24))
    assert again["sent"] == 0
    assert again["recorded"] == {"decisions": 0, "ledger": 0, "tasks": 0}
    # later that day (Tokyo morning): the deferred messages go out, once
    late = run_outreach(wh, s, datetime(2026, 11, 25, 0, 30))
    assert late["sent"] == out["deferred"] - late["deferred"]
    assert late["sent"] > 0
    keys = [json.loads(x)["send_key"] for x in (s.outbox_dir / "accepted.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys))
    assert ctl.stats["pii_violations"] == 0
    assert ctl.stats["missing_unsubscribe_headers"] == 0


def test_uplift_swaps_risk_for_incremental_value(duck: Warehouse, settings: Settings) -> None:
    c = populate(duck, 200)
    base = run_outreach(duck, settings, date(2026, 11, 24), deliver=False)
    ids = c["customer_id"].tolist()
    # only ten persuadable customers have a positive uplift: only they can be selected
    uplift = pd.Series([0.3 if i < 10 else -0.05 for i in range(len(ids))], index=ids)
    duck.execute("DELETE FROM decisions")
    duck.execute("DELETE FROM send_ledger")
    duck.execute("DELETE FROM cs_tasks")
    up = run_outreach(duck, settings, date(2026, 11, 24), uplift=uplift, deliver=False)
    dec = duck.query("SELECT customer_id, uplift, policy FROM decisions")
    assert base["decided"] > up["decided"] > 0
    chosen = dec[dec["policy"] != "explore"]  # the rest is the day's random exploration share
    assert set(chosen["policy"]) == {"uplift"}
    assert (dec["policy"] == "explore").sum() == up["explored"] > 0
    assert set(chosen["customer_id"]) <= set(ids[:10])
    assert (chosen["uplift"] == 0.3).all()


def register_tiny_champion(s: Settings) -> None:
    """A real (tiny) @champion for churn in the test's MLflow store: outreach requires one."""
    client = registry.connect(s)
    exp_id = registry.ensure_experiment(s, client, "churn")
    model = DummyClassifier(strategy="prior").fit(np.zeros((4, 1)), [0, 1, 0, 0])
    with mlflow.start_run(experiment_id=exp_id, run_name="tiny") as run:
        info = mlflow.sklearn.log_model(
            model, name="model", serialization_format="cloudpickle", pip_requirements=["scikit-learn"]
        )
    version = registry.register_challenger(s, "churn", info.model_uri, run.info.run_id, "test")
    registry.set_champion(s, "churn", version, "test")


def test_cli_preview_outreach_and_tasks_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    s = Settings(data_dir=data, _env_file=None)  # type: ignore[call-arg]
    url, stop, _ = start_sink_in_thread(s)
    monkeypatch.setenv("PROACTIVE_DATA_DIR", str(data))
    monkeypatch.setenv("PROACTIVE_SENDGRID_HOST", url)
    monkeypatch.chdir(tmp_path)
    try:
        wh = Warehouse.connect(s.resolved_warehouse_url)
        c = populate(wh, 120)
        wh.execute(
            "UPDATE customers SET name = :n WHERE customer_id = :c",
            {"n": "<script>x</script> Bob", "c": c.loc[0, "customer_id"]},
        )
        ids = c["customer_id"].tolist()
        wh.execute(
            "UPDATE customers SET marketing_consent = TRUE WHERE customer_id IN (:a, :b, :c)",
            {"a": ids[0], "b": ids[1], "c": ids[2]},
        )
        wh.execute("UPDATE customers SET email = NULL WHERE customer_id = :c", {"c": ids[2]})
        wh.execute("UPDATE customers SET marketing_consent = NULL WHERE customer_id = :c", {"c": ids[3]})
        wh.execute("UPDATE customers SET marketing_consent = FALSE WHERE customer_id = :c", {"c": ids[4]})
        wh.close()
        assert main(["preview", "renewal_risk", "--customer", ids[2]]) == 2  # no address: said, not rendered
        assert f"customer '{ids[2]}' has no email address" in capsys.readouterr().err
        assert main(["preview", "renewal_risk", "--customer", ids[3]]) == 2
        assert "has not agreed to proactive email (marketing_consent: unknown)" in capsys.readouterr().err
        assert main(["preview", "renewal_risk", "--customer", ids[4]]) == 2
        assert "said no to proactive contact (marketing_consent: no)" in capsys.readouterr().err
        assert (
            main(["preview", "renewal_risk", "--customer", c.loc[1, "customer_id"], "--as-of", "2026-11-24"])
            == 0
        )
        text = capsys.readouterr().out
        assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in text
        assert "Hi Kim1," in text
        assert (
            main(["preview", "renewal_risk", "--customer", c.loc[0, "customer_id"], "--format", "json"]) == 0
        )
        shown = json.loads(capsys.readouterr().out)
        assert "<script>" not in shown["html"]
        assert shown["custom_args"]["send_key"].startswith("sk_")
        assert main(["preview", "high_value_cs_task", "--customer", c.loc[1, "customer_id"]]) == 0
        assert "You may offer" in capsys.readouterr().out
        assert main(["preview", "nope", "--customer", "x"]) == 2
        assert main(["preview", "--all", "--out", str(tmp_path / "gallery")]) == 0  # the offline gallery
        index = (tmp_path / "gallery" / "index.html").read_text()
        assert "renewal_risk/a-de-" in index
        assert main(["preview", "--all"]) == 2  # --out is required: a one-line user error
        assert not (data / "outbox" / "accepted.jsonl").read_text()  # preview never sends
        assert main(["outreach", "--as-of", "2026-11-24T14:00:00"]) == 2  # no champion: fails closed
        err = capsys.readouterr().err
        assert "no champion model for 'churn'" in err
        assert "Traceback" not in err
        assert not (data / "outbox" / "accepted.jsonl").read_text()  # nothing decided or sent
        register_tiny_champion(s)
        assert main(["outreach", "--as-of", "2026-11-24T14:00:00"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["sent"] > 0
        assert main(["tasks", "export", "--out", str(tmp_path / "t.csv")]) == 0
        assert (tmp_path / "t.csv").read_text().startswith("task_id,as_of,customer_id")
        hashes = {email_hash(e) for e in c["email"]}
        assert hashes  # (customers' addresses are hashed in suppression records, never exported)
    finally:
        stop()


def test_need_model_score_drives_its_playbook(duck: Warehouse, settings: Settings) -> None:
    from proactive_ml.outreach.inputs import load_candidates
    from proactive_ml.outreach.playbooks import RULE_FIELDS

    c = populate(duck)
    needy = set(c["customer_id"].iloc[::3])
    need = duck.query("SELECT * FROM scores WHERE target = 'churn'").assign(target="need")
    need["score"] = [0.9 if cid in needy else 0.05 for cid in need["customer_id"]]
    duck.insert_frame("scores", need)
    frame = load_candidates(duck, datetime(2026, 11, 24, 14))
    assert set(RULE_FIELDS) <= set(frame.columns)  # every field a playbook may test exists
    assert frame.set_index("customer_id")["need_score"].to_dict() == dict(
        zip(need["customer_id"], need["score"], strict=True)
    )
    run_outreach(duck, settings, date(2026, 11, 24), deliver=False)
    dec = duck.query("SELECT customer_id, playbook FROM decisions")
    chosen = set(dec.loc[dec["playbook"] == "predicted_need", "customer_id"])
    assert chosen
    assert chosen <= needy


def test_when_no_playbook_matches_anyone_outreach_says_what_the_rules_wait_for(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    shipped = load_playbooks()
    only_tickets = PlaybookConfig(playbooks=(shipped.get("unresolved_ticket"),), selection=shipped.selection)
    with Warehouse.connect(settings.resolved_warehouse_url) as wh:
        seed_warehouse(
            wh, make_customers(200, seed=5, consent_share=1.0, zones=ZONES), CUTOFF, seed=5, low=0.2
        )
        t = datetime(2026, 11, 23, 14)
        out = run_outreach(wh, settings, t, config=only_tickets, deliver=False)
        assert out["scored"] > 0
        assert out["matched"] == 0
        assert "No customer matched any playbook of models/playbooks.yaml" in caplog.text
        assert (
            "The warehouse has no usage_events, tickets, feedback: a rule on them matches nobody"
            in caplog.text
        )
        assert "PROACTIVE_PLAYBOOKS_FILE" in caplog.text
        caplog.clear()
        run_outreach(wh, settings, t, config=shipped, deliver=False)  # the shipped rules match here: no word
        assert "No customer matched" not in caplog.text
