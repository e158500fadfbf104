"""Flow: the whole loop on the simulated world — the main job that `make demo` runs.

Warm-up: the world's first weeks arrive as one backfill export, are validated and loaded, and the first models
are trained. Then, every simulated day: the day's landing files are ingested (GX first), the models are retrained
weekly, every customer is scored, playbooks and policy decide (with holdouts), emails go through the official
SendGrid client to the local sink, the world answers with signed events, replies and ratings over HTTP, and the
responses flow takes them in. At the end: impact, the success report, and the measured effect against the truth.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow

from flows.common import migrate_warehouse, no_subflow_heartbeats, quiet_temporary_server_shutdown
from flows.ingest import ingest_flow
from flows.outreach import outreach_flow
from flows.report import check_targeting, report_flow
from flows.responses import responses_flow
from flows.train import train_flow
from proactive_ml.settings import Settings

# A 120-day world has little history: train on cutoffs with two weeks of history and no purge gap, on a sample of
# 20,000 rows (80,000 available at 20,000 customers: the models barely change, the training time halves). The
# last retraining (day 116) is the first with randomized outcomes 60 days old: the uplift model and the policy check.
DEMO_TRAINING = {"min_history_days": 14, "purge_gap": False, "n_train_cutoffs": 4, "max_train_rows": 20_000}
# The demo's size: big enough, with a 25 % global holdout, that the measured effect's interval can exclude zero (the
# world's true effect is about +0.03 retained per treated customer; decisions need 30 days to mature).
DEMO = {"customers": 20_000, "days": 120, "warmup_days": 52, "outreach_every": 4, "retrain_every": 30}
# The global holdout (customers held out of every playbook) rather than a bigger per-playbook one: a customer held
# out of one playbook may be emailed by another within 30 days (15 % were, with a 30 % playbook holdout), which
# dilutes the measured effect; the global holdout's customers never are.
DEMO_HOLDOUT_SHARE = 0.25


@flow(name="closed-loop", log_prints=True)
def closed_loop(
    customers: int = DEMO["customers"],
    days: int = DEMO["days"],
    warmup_days: int = DEMO["warmup_days"],
    retrain_every: int = DEMO["retrain_every"],
    outreach_every: int = DEMO["outreach_every"],
    seed: int = 42,
    targeting: str = "uplift",
    data_dir: str | None = None,
    fresh: bool = True,
    progress: bool = True,
    employees: int = 24,
    holdout_share: float | None = DEMO_HOLDOUT_SHARE,
) -> dict[str, Any]:
    """Run ``days`` simulated days of the whole system for real; returns where to look and the headline figures.

    The world lands a file per dataset every simulated day; every ``outreach_every`` days the product ingests what
    landed, retrains when the last training is more than ``retrain_every`` days old, scores, decides and sends, and
    takes in the answers. ``employees`` simulated customer-success people work their desk queues over HTTP after
    each outreach. ``holdout_share`` (None: the settings' default) is the global holdout's share.
    """
    from proactive_ml.settings import get_settings
    from proactive_ml.sim.demo import LocalServices, write_backfill
    from proactive_ml.sim.desk_staff import DemoDesk
    from proactive_ml.sim.world import World, WorldConfig
    from proactive_ml.validation.gx_run import deferred_data_docs

    if warmup_days >= days:
        raise ValueError(f"warmup_days ({warmup_days}) must be less than days ({days})")
    if outreach_every < 1 or retrain_every < 1:
        raise ValueError("outreach_every and retrain_every must be at least 1 day")
    base = get_settings()
    root = Path(data_dir) if data_dir else base.data_dir / "demo"
    if fresh and root.exists():
        shutil.rmtree(root)
    s = get_settings(data_dir=root)
    world = World(WorldConfig(n_customers=customers, seed=seed))
    landing = s.landing_dir
    clock = StageClock()
    t0 = time.perf_counter()
    # One Data Docs build at the end (or on an error) instead of one per simulated day; no per-subflow heartbeats.
    with LocalServices(s) as services, no_subflow_heartbeats(), deferred_data_docs(s):
        overrides = {"data_dir": str(root), **services.overrides}
        if holdout_share is not None:
            overrides["global_holdout_share"] = holdout_share
        s = get_settings(**overrides)
        migrate_warehouse(s)
        desk = services.enter(DemoDesk(s, world, employees))

        def next_morning() -> datetime:
            return datetime.combine(world.today + timedelta(days=1), datetime.min.time())

        with clock("world"):
            write_backfill(world, warmup_days, landing)
        with clock("ingest"):
            ingest_flow(str(landing), next_morning().isoformat(), overrides)
        with clock("train"):
            train_flow(["churn", "need"], next_morning().isoformat(), overrides, DEMO_TRAINING)
        desk.ready()  # the simulated people are desk people before the first outreach assigns tasks
        bar, task = _progress(progress, days - warmup_days)
        loop = _Loop(world, landing, overrides, services.receiver_url, desk, clock, targeting)
        trained, left = warmup_days, days - warmup_days
        try:
            while left:
                step = min(outreach_every, left)
                day = days - left + step  # the simulated day this step ends on
                retrain = day - trained > retrain_every  # the models in use are older than retrain_every days
                summary = loop.day(step, retrain=retrain)
                trained, left = (day if retrain else trained), left - step
                if bar:
                    bar.update(
                        task, advance=step, description=f"{world.today} · sent {summary.get('sent', 0)}"
                    )
        finally:
            if bar:
                bar.stop()
        end = next_morning()
        with clock("report"):
            report = report_flow(end.isoformat(), overrides)
    headline = _desk_headline(root, desk)
    headline.update(_headline(s, root, report, world, end, time.perf_counter() - t0))
    headline["stage_seconds"] = {k: round(v, 1) for k, v in clock.totals.items()}
    headline.update(customers=customers, days=days)
    return headline


class _Loop:
    """One simulated day of the closed loop, stage by stage, each stage timed on ``clock``."""

    def __init__(
        self,
        world: Any,
        landing: Path,
        overrides: dict[str, Any],
        receiver_url: str,
        desk: Any,
        clock: StageClock,
        targeting: str,
    ) -> None:
        self.world, self.landing, self.overrides, self.receiver_url = world, landing, overrides, receiver_url
        self.desk, self.clock, self.targeting = desk, clock, targeting

    def day(self, days: int, retrain: bool) -> dict[str, Any]:
        """The world's next ``days`` days land; ingest, (retrain, policy check), outreach, answers, responses, desk."""
        from proactive_ml.settings import get_settings
        from proactive_ml.sim.answers import answer_world
        from proactive_ml.sim.demo import write_export
        from proactive_ml.warehouse import Warehouse

        clock, world, overrides = self.clock, self.world, self.overrides
        with clock("world"):
            write_export(self.world, days, self.landing)
        morning = datetime.combine(world.today + timedelta(days=1), datetime.min.time())
        with clock("ingest"):
            ingest_flow(str(self.landing), morning.isoformat(), overrides)
        if retrain:
            with clock("train"):
                train_flow(["churn", "need"], morning.isoformat(), overrides, DEMO_TRAINING)
            with clock("policy"):  # may the next outreach target by uplift? (the latest check decides)
                check_targeting(morning.isoformat(), overrides)
        as_of = morning + timedelta(hours=14)
        with clock("outreach"):
            summary = outreach_flow(as_of.isoformat(), self.targeting, overrides)
        s = get_settings(**overrides)
        with clock("world"), Warehouse.connect(s.resolved_warehouse_url) as wh:
            answer_world(world, s, self.receiver_url, as_of, wh)
        with clock("responses"):
            responses_flow(as_of.isoformat(), overrides)
        with clock("desk"):
            self.desk.work(as_of)
        return dict(summary)


class StageClock:
    """Seconds spent per stage, summed over the run (``with clock("ingest"): ...``)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def __call__(self, stage: str) -> _Timer:
        """A context manager that adds the time spent inside it to ``stage``."""
        return _Timer(self, stage)


class _Timer:
    def __init__(self, clock: StageClock, stage: str) -> None:
        self.clock, self.stage = clock, stage

    def __enter__(self) -> None:
        self.t = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.clock.totals[self.stage] = self.clock.totals.get(self.stage, 0.0) + time.perf_counter() - self.t


def _progress(enabled: bool, total: int) -> tuple[Any, Any]:
    if not enabled:
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("simulated day {task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
    )
    bar.start()
    return bar, bar.add_task("", total=total)


def _headline(
    s: Settings, root: Path, report: str, world: Any, end: datetime, seconds: float
) -> dict[str, Any]:
    """Where to look, and the measured incremental retention next to the world's truth."""
    from proactive_ml.measurement.impact import measure_impact
    from proactive_ml.measurement.policy_check import latest_check
    from proactive_ml.outreach.vocabulary import check_outbox
    from proactive_ml.sim.demo import true_effect
    from proactive_ml.warehouse import Warehouse

    with Warehouse.connect(s.resolved_warehouse_url) as wh:
        impact = measure_impact(wh, end.date(), s, log_to_mlflow=False)
        sent = int(wh.scalar("SELECT count(*) FROM send_ledger WHERE state = 'accepted'") or 0)
        decisions = wh.query("SELECT send_key, customer_id, as_of, arm FROM decisions WHERE action = 'email'")
        check = latest_check(wh)
    overall = impact[(impact["playbook"] == "ALL") & (impact["outcome"] == "retained_30d")]
    true_ate, n_true = true_effect(world, decisions, end.date() - timedelta(days=30))
    out: dict[str, Any] = {
        "seconds": round(seconds, 1),
        "emails_sent": sent,
        "mlflow_ui": f"mlflow ui --backend-store-uri {s.resolved_mlflow_uri} --default-artifact-root "
        f"{s.resolved_artifact_root}",
        "data_docs": str(_data_docs_index(s)),
        "outbox": str(s.outbox_dir),
        "report": report,
        "true_effect_30d": true_ate,
        "true_effect_customers": n_true,
        "customer_words_check": {k: v for k, v in check_outbox(s.outbox_dir).items() if k != "examples"},
    }
    if len(overall):
        r = overall.iloc[0]
        out.update(
            measured_effect_30d=float(r["diff"]),
            measured_ci=(float(r["ci_low"]), float(r["ci_high"])),
            customers_kept=float(r["kept"]),
            customers_kept_ci=(float(r["kept_low"]), float(r["kept_high"])),
            n_treated=int(r["n_treated"]),
            n_holdout=int(r["n_holdout"]),
        )
        out["effect_in_words"] = effect_in_words(out["measured_ci"], true_ate, out["n_holdout"])
    out["targeting"] = check["targeting"] if check else "risk"
    out["policy_check"] = _check_figures(check)
    return out


def _desk_headline(root: Path, desk: Any) -> dict[str, Any]:
    """How to open the desk on the demo's warehouse, its one-time lead login, and the simulated people's work."""
    user, password = desk.login or ("", "")
    return {
        "desk": f"PROACTIVE_DATA_DIR={root} proactive-ml desk serve",
        "desk_login": {"username": user, "password": password},
        "desk_people": len(desk.staff),
        "desk_tasks_worked": desk.worked,
    }


def _check_figures(check: dict[str, Any] | None) -> dict[str, Any]:
    """The latest policy check's verdict and customers kept per email under each policy (JSON-ready)."""
    if not check:
        return {"reason": "no policy check has run"}
    keys = (
        "reason",
        "n_logged",
        "n_explored",
        "diff",
        "diff_lower95",
        "risk_value",
        "uplift_value",
        "random_value",
    )
    out: dict[str, Any] = {}
    for k in keys:
        v = check.get(k)
        if v is None or isinstance(v, str):
            out[k] = v
        elif v != v:  # NaN: not estimated
            out[k] = None
        else:
            out[k] = int(v) if k.startswith("n_") else round(float(v), 4)
    return out


def effect_in_words(ci: tuple[float, float], truth: float, n_holdout: int) -> str:
    """Whether the measured 95% interval excludes zero and whether it covers the world's true effect, in words."""
    lo, hi = ci
    if lo <= 0.0 <= hi:
        zero = (
            f"The interval includes 0: {n_holdout} held-out customers are too few to tell the effect from chance "
            "yet; it narrows as decisions age and the holdout grows"
        )
    else:
        zero = (
            f"The interval excludes 0: the outreach {'kept' if lo > 0 else 'lost'} customers, beyond chance"
        )
    if truth != truth:  # NaN: no treated customer old enough
        return zero + "; the world's true effect is not known yet."
    covers = "covers" if lo <= truth <= hi else "does not cover"
    return f"{zero}; it {covers} the world's true effect ({truth:+.3f})."


def _data_docs_index(s: Settings) -> Path:
    found = sorted(Path(s.data_docs_dir).rglob("index.html")) if Path(s.data_docs_dir).exists() else []
    return found[0] if found else Path(s.data_docs_dir)


def _print_headline(h: dict[str, Any]) -> None:
    from rich.console import Console

    c = Console()
    c.rule("[bold green]proactive-ml demo: done")
    c.print(f"finished in {h['seconds']} s; {h['emails_sent']} emails accepted by the local SendGrid sink")
    c.print(f"[bold]MLflow UI[/]     {h['mlflow_ui']}")
    c.print(f"[bold]Data Docs[/]     {h['data_docs']}")
    c.print(f"[bold]Outbox[/]        {h['outbox']}")
    words = h.get("customer_words_check") or {}
    c.print(
        f"[bold]Customer words[/] {words.get('with_problems')} of {words.get('emails')} emails show a model "
        "reason, a score, an empty list or a placeholder greeting"
    )
    c.print(f"[bold]Report[/]        {h['report']}")
    login = h.get("desk_login") or {}
    c.print(
        f"[bold]Desk[/]          {h['desk']}  ({h['desk_people']} simulated people closed "
        f"{h['desk_tasks_worked']} tasks)"
    )
    c.print(
        f"  one-time login: [bold]{login.get('username')}[/] / [bold]{login.get('password')}[/] (a lead; shown once, "
        "not stored anywhere but as its hash)"
    )
    c.print(
        "[bold]Prefect UI[/]    make prefect-server, then open http://127.0.0.1:4200 (every flow run of the demo, "
        "with its INFO logs)"
    )
    if "measured_effect_30d" in h:
        lo, hi = h["measured_ci"]
        klo, khi = h["customers_kept_ci"]
        c.print(
            f"[bold]Incremental 30-day retention[/] measured {h['measured_effect_30d']:+.3f} "
            f"(95% CI {lo:+.3f} … {hi:+.3f}; {h['n_treated']} treated vs {h['n_holdout']} held out) "
            f"→ customers kept {h['customers_kept']:.1f} ({klo:.1f} … {khi:.1f})"
        )
        c.print(f"  [dim]{h['effect_in_words']}[/]")
    else:
        c.print("[bold]Incremental 30-day retention[/] not measurable yet: no decision is 30 days old")
    pc = h.get("policy_check") or {}
    c.print(f"[bold]Targeting[/]     by {h.get('targeting', 'risk')}: {pc.get('reason', '')}")
    c.print(
        "[bold]Seconds by stage[/]  " + ", ".join(f"{k} {v}" for k, v in h.get("stage_seconds", {}).items())
    )
    c.print(
        f"[bold]World's truth[/]  true effect {h['true_effect_30d']:+.3f} per treated customer "
        f"({h['true_effect_customers']} treated customers decided 30+ days before the end)"
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m flows.closed_loop --demo``: the main job on embedded defaults."""
    p = argparse.ArgumentParser(description="Run the closed loop on the simulated world.")
    p.add_argument("--demo", action="store_true", help="use the demo defaults (20,000 customers, 120 days)")
    p.add_argument(
        "--customers", type=int, default=DEMO["customers"], help="customers in the simulated world"
    )
    p.add_argument("--days", type=int, default=DEMO["days"], help="simulated days in all, warm-up included")
    p.add_argument(
        "--warmup-days",
        type=int,
        default=DEMO["warmup_days"],
        help="days in the first backfill, before outreach",
    )
    p.add_argument(
        "--outreach-every",
        type=int,
        default=DEMO["outreach_every"],
        help="simulated days between outreach runs; each run's export holds the days since the last",
    )
    p.add_argument(
        "--retrain-every",
        type=int,
        default=DEMO["retrain_every"],
        help="retrain when the last training is more than this many days old",
    )
    p.add_argument(
        "--holdout-share",
        type=float,
        default=DEMO_HOLDOUT_SHARE,
        help="share of customers held out of every playbook (the global holdout; playbook holdouts add theirs)",
    )
    p.add_argument(
        "--targeting",
        choices=["risk", "uplift"],
        default="uplift",
        help="uplift: by uplift once an uplift model exists and the policy check clears it; risk: always by risk",
    )
    p.add_argument(
        "--data-dir", default=None, help="where the run keeps everything (default: data/demo, emptied first)"
    )
    p.add_argument("--employees", type=int, default=24, help="simulated customer-success people at the desk")
    p.add_argument("--summary-json", default=None, help="also write the figures as JSON to this file")
    a = p.parse_args(argv)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # the demo prints its own progress and summary
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # the local server must not phone home
    os.environ.setdefault("DO_NOT_TRACK", "1")
    quiet_temporary_server_shutdown()  # no traceback after the summary when Prefect's temporary server stops
    h = closed_loop(
        customers=a.customers,
        days=a.days,
        warmup_days=a.warmup_days,
        retrain_every=a.retrain_every,
        outreach_every=a.outreach_every,
        holdout_share=a.holdout_share,
        targeting=a.targeting,
        data_dir=a.data_dir,
        employees=a.employees,
    )
    _print_headline(h)
    if a.summary_json:
        kept = {
            **h,
            "desk_login": {"username": h["desk_login"]["username"]},
        }  # the password is shown once only
        Path(a.summary_json).write_text(json.dumps(kept, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
