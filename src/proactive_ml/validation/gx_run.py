"""Edge module: run a suite with Great Expectations and build the Data Docs site.

One file-backed GX context per data folder and process (``<data_dir>/gx``), created on first use and cached;
its Data Docs site is written to ``settings.data_docs_dir``. GX is imported only here (and only when validation
runs: the package resolves its names lazily).
GX does not raise when expectations fail: callers read :attr:`GxOutcome.success` and each result.
Unexpected values of PII columns are masked in the stored results (and so in the Data Docs) before any page is
built: see :mod:`proactive_ml.validation.masking`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.core.run_identifier import RunIdentifier
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.exceptions.resource_freshness import ResourceFreshnessAggregateError

from proactive_ml.settings import Settings
from proactive_ml.validation.docs_offline import make_offline
from proactive_ml.validation.masking import mask_gx_result
from proactive_ml.validation.suites import Suite, rule_name

# The reviewed suites (expectations/*.json) use GX's string row conditions with condition_parser "pandas"; GX 1.9
# deprecates the parameter on every expectation it builds (thousands of identical lines per run). The suites keep
# working through GX 1.x; moving them to Condition objects is a suite change, reviewed on its own.
warnings.filterwarnings(
    "ignore", message="The condition_parser parameter is deprecated", category=DeprecationWarning
)

SITE_NAME = "proactive_ml_docs"
KEEP_RESULTS = 30  # validation results per suite kept in GX's store (and listed in the Data Docs index)
_LOCK = threading.RLock()
# Inside ``deferred_data_docs`` the result keys wait here and the site is built once at the end.
_DEFERRED: ContextVar[list[Any] | None] = ContextVar("proactive_deferred_docs", default=None)


@contextmanager
def deferred_data_docs(settings: Settings) -> Iterator[None]:
    """Validate many batches, then build the Data Docs pages once (an ingest run of many files, not per file).

    Nested blocks defer to the outermost one: a loop of many ingest runs (the closed-loop demo) builds the site
    once when it ends, or when it stops on an error, so a gate's message always points at a built page.
    """
    if _DEFERRED.get() is not None:
        yield
        return
    token = _DEFERRED.set([])
    try:
        yield
    finally:
        pending = _DEFERRED.get() or []
        _DEFERRED.reset(token)
        if pending:
            with _LOCK:
                ctx = get_context(settings)
                # results pruned meanwhile have no page to build
                kept = set(ctx.validation_results_store.list_keys())
                pending = [k for k in pending if k in kept]
                ctx.build_data_docs(
                    site_names=[SITE_NAME], resource_identifiers=pending or None, build_index=True
                )
                make_offline(settings.data_docs_dir)


_CONTEXTS: dict[str, Any] = {}


@dataclass
class ExpectationOutcome:
    """One expectation's GX result, reduced to what the project reads."""

    name: str
    type: str
    level: str
    success: bool
    observed: Any = None
    unexpected_count: int | None = None
    error: str | None = None


@dataclass
class GxOutcome:
    """The GX validation of one batch."""

    success: bool
    results: list[ExpectationOutcome] = field(default_factory=list)
    docs_path: Path | None = None
    index_path: Path | None = None
    rows_validated: int = 0


def get_context(settings: Settings) -> Any:
    """The cached GX file context of ``settings.data_dir`` with a Data Docs site at ``settings.data_docs_dir``."""
    key = str(settings.data_dir.resolve())
    with _LOCK:
        if key in _CONTEXTS:
            return _CONTEXTS[key]
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        ctx = gx.get_context(mode="file", project_root_dir=str(settings.data_dir))
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        site: Any = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(settings.data_docs_dir),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
        config: Any = ctx.get_config()
        sites = config.data_docs_sites or {}
        for name in list(sites):
            if name != SITE_NAME:
                ctx.delete_data_docs_site(name)
        config = ctx.get_config()
        if SITE_NAME in (config.data_docs_sites or {}):
            ctx.update_data_docs_site(SITE_NAME, site)
        else:
            ctx.add_data_docs_site(SITE_NAME, site)
        _CONTEXTS[key] = ctx
        return ctx


def gx_suite(suite_json: dict[str, Any]) -> Any:
    """Load suite JSON as a ``gx.ExpectationSuite`` (raises if an expectation is not valid GX)."""
    data = copy.deepcopy(suite_json)
    suite = gx.ExpectationSuite(**data)
    if len(suite.expectations) != len(data["expectations"]):
        raise ValueError(
            f"suite {data['name']!r}: {len(data['expectations']) - len(suite.expectations)} "
            "expectation(s) are not valid GX 1.x configurations"
        )
    return suite


def _runtime_suite(
    suite: Suite, params: dict[str, Any], skip: set[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The suite as run, and the GX suite parameters it reads.

    History-dependent gates without history (and ``skip``) are left out. Every parameter stays a GX suite
    parameter, filled in at run time (each result, and so its Data Docs page, shows the concrete bounds): the suite
    as run is then the same file after file, so it is registered once, not per batch.
    """
    data = copy.deepcopy(suite.data)
    runtime: dict[str, Any] = {}
    kept = []
    for exp, rule in zip(data["expectations"], suite.rules, strict=True):
        if rule.name in skip:
            continue
        wanted = [
            v["$PARAMETER"] for v in exp["kwargs"].values() if isinstance(v, dict) and "$PARAMETER" in v
        ]
        if all(p in params for p in wanted):
            runtime.update({p: params[p] for p in wanted})
            kept.append(exp)
    data["expectations"] = kept
    return data, runtime


def _observed(result: Any) -> Any:
    r = result.result or {}
    if "observed_value" in r and r["observed_value"] is not None:
        try:
            json.dumps(r["observed_value"], default=str)
            return r["observed_value"]
        except (TypeError, ValueError):
            return str(r["observed_value"])
    if "unexpected_percent" in r and r.get("unexpected_count"):
        return f"{r['unexpected_count']} unexpected ({r['unexpected_percent']:.2f}%)"
    return None


# (context folder, suite) -> (its context, the suite as registered as JSON, its validation definition)
_DEFINITIONS: dict[tuple[str, str], tuple[Any, str, Any]] = {}


def _validation_definition(ctx: Any, suite: Suite, data: dict[str, Any], *, fresh: bool = False) -> Any:
    """The suite as run, registered in the context with a whole-dataframe batch of the pandas data source.

    Registering costs more than validating a small batch (GX compares and stores the suite, rewrites its project
    config), so a definition is reused while the suite as run is unchanged; ``fresh`` registers it again.
    """
    key = (str(ctx.root_directory), suite.name)
    text = json.dumps(data, sort_keys=True, default=str)
    cached = _DEFINITIONS.get(key)
    if cached is not None and cached[0] is ctx and cached[1] == text and not fresh:
        return cached[2]
    gsuite = ctx.suites.add_or_update(gx_suite(data))
    try:  # kept, not replaced: replacing it would drop the other suites' assets (and their definitions)
        ds = ctx.data_sources.get("proactive_ml")
    except (KeyError, LookupError, ValueError):
        ds = ctx.data_sources.add_pandas("proactive_ml")
    try:
        asset = ds.get_asset(suite.name)
    except LookupError:
        asset = ds.add_dataframe_asset(suite.name)
    try:
        bd = asset.get_batch_definition("batch")
    except (KeyError, LookupError):
        bd = asset.add_batch_definition_whole_dataframe("batch")
    vd = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=suite.name, data=bd, suite=gsuite)
    )
    _DEFINITIONS[key] = (ctx, text, vd)
    return vd


def _expectation_outcomes(validation_result: Any, suite: Suite) -> list[ExpectationOutcome]:
    """Each GX expectation result, named as the suite's rules are."""
    by_key = {r.name: r for r in suite.rules}
    out = []
    for er in validation_result.results:
        cfg = er.expectation_config
        kw = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
        name = rule_name(cfg.type, kw)
        rule = by_key.get(name)
        exc = er.exception_info or {}
        out.append(
            ExpectationOutcome(
                name=name,
                type=cfg.type,
                level=rule.level if rule else "row",
                success=bool(er.success),
                observed=_observed(er),
                unexpected_count=(er.result or {}).get("unexpected_count"),
                error=exc.get("exception_message") if exc.get("raised_exception") else None,
            )
        )
    return out


def _publish_docs(ctx: Any, suite_name: str, run_id: Any, docs_dir: Path) -> Path | None:
    """Build the run's Data Docs page (or leave it to :func:`deferred_data_docs`); returns the page's path."""
    key = _result_key(ctx, suite_name, run_id)
    deferred = _DEFERRED.get()
    if deferred is None:
        ctx.build_data_docs(
            site_names=[SITE_NAME], resource_identifiers=[key] if key else None, build_index=True
        )
        make_offline(docs_dir)
    elif key is not None:
        deferred.append(key)
    if key is not None:
        # The run's own page, also when a deferred build writes it later
        urls = ctx.get_docs_sites_urls(resource_identifier=key, site_name=SITE_NAME, only_if_exists=False)
        if urls and urls[0].get("site_url"):
            return Path(urls[0]["site_url"].removeprefix("file://"))
    return None


def run_suite(
    settings: Settings,
    suite: Suite,
    frame: pd.DataFrame,
    params: dict[str, Any],
    *,
    run_name: str,
    run_time: datetime,
    skip: set[str] | None = None,
) -> GxOutcome:
    """Validate ``frame`` against ``suite`` with GX (pandas data source) and update Data Docs."""
    with _LOCK:
        ctx = get_context(settings)
        data, runtime = _runtime_suite(suite, params, skip or set())
        run_id = RunIdentifier(run_name=run_name, run_time=run_time)
        vr = _run_definition(ctx, suite, data, frame, runtime, run_id)
        _mask_pii(ctx, vr, suite.name, run_id)
        outcome = GxOutcome(success=bool(vr.success), rows_validated=len(frame))
        outcome.results = _expectation_outcomes(vr, suite)
        outcome.docs_path = _publish_docs(ctx, suite.name, run_id, settings.data_docs_dir)
        outcome.index_path = settings.data_docs_dir / "index.html"
        return outcome


def _run_definition(
    ctx: Any, suite: Suite, data: dict[str, Any], frame: pd.DataFrame, runtime: dict[str, Any], run_id: Any
) -> Any:
    """Run the suite on ``frame``; the result is stored in the validation results store.

    A definition another process changed meanwhile (GX finds it stale) is registered again and run once more.
    """
    for fresh in (False, True):
        vd = _validation_definition(ctx, suite, data, fresh=fresh)
        try:
            return vd.run(
                batch_parameters={"dataframe": frame},
                expectation_parameters=runtime or None,
                result_format="SUMMARY",
                run_id=run_id,
            )
        except ResourceFreshnessAggregateError:
            if fresh:
                raise
    raise AssertionError("unreachable")


def _mask_pii(ctx: Any, vr: Any, suite_name: str, run_id: Any) -> None:
    """Mask the values of PII columns in the result, in memory and in GX's store (the Data Docs render from it)."""
    masked = False
    for er in vr.results:
        if er.result:
            masked |= mask_gx_result(er.expectation_config.kwargs, er.result)
    if masked:
        key = _result_key(ctx, suite_name, run_id)
        if key is not None:
            ctx.validation_results_store.set(key, vr)


def _result_key(ctx: Any, suite_name: str, run_id: Any) -> Any:
    """The stored result's key.

    Older results of the suite beyond :data:`KEEP_RESULTS` leave the store (their pages stay on disk, linked from
    ``validation_runs``), so rebuilding the Data Docs index stays cheap.
    """
    store = ctx.validation_results_store
    mine = [k for k in store.list_keys() if k.expectation_suite_identifier.name == suite_name]
    mine.sort(key=lambda k: (str(k.run_id.run_time), str(k.run_id.run_name)))
    for old in mine[:-KEEP_RESULTS]:
        store.remove_key(old)
    for k in reversed(mine):
        if k.run_id.run_name == run_id.run_name and str(k.run_id.run_time) == str(run_id.run_time):
            return k
    return None
