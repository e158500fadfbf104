"""Row-level validation of one batch, chunk by chunk: typed valid rows, quarantined rows, statistics for the gates.

:class:`BatchValidator` parses each chunk to contract types, evaluates every row rule of the suite as a vectorised
mask, drops later duplicate keys, quarantines each failing input line once (every rule it failed, a reason each),
keeps running statistics of the whole batch for the gates, and keeps the frame GX validates (the whole batch up to
``gx_max_rows``, else a uniform sample of ``GX_SAMPLE_ROWS``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from proactive_ml.contract import Dataset
from proactive_ml.validation import store
from proactive_ml.validation.gates import as_of_end, row_params
from proactive_ml.validation.keys import KeyTracker
from proactive_ml.validation.reasons import failure_reasons
from proactive_ml.validation.rules import ParsedChunk, condition_mask, parse_chunk, rule_mask
from proactive_ml.validation.suites import Rule, Suite

GX_MAX_ROWS = 100_000  # GX validates the whole batch up to this size ...
GX_SAMPLE_ROWS = (
    20_000  # ... and a uniform sample of this many rows above it (GX costs ~10 us/row/expectation)
)


class BatchValidator:
    """Row-level validation of one batch, chunk by chunk, with running statistics for the gates."""

    def __init__(
        self,
        dataset: Dataset,
        suite: Suite,
        *,
        source_file: str,
        as_of: datetime | date,
        known: Mapping[str, pa.Array] | None = None,
        known_rows: Mapping[str, np.ndarray] | None = None,
        expected_rows: int | None = None,
        gx_max_rows: int = GX_MAX_ROWS,
        seed: int = 0,
    ) -> None:
        self.dataset, self.suite, self.source_file = dataset, suite, source_file
        self.as_of = as_of
        self.params = row_params(suite, as_of)
        self.known = dict(known or {})
        self.known_rows = dict(known_rows or {})  # foreign keys looked up for the whole batch at once
        self.keys = KeyTracker(dataset.key, expected_rows)
        self.rules = [r for r in suite.row_rules if r.meta.get("rule") != "unique"]
        self.unique_rule = next((r for r in suite.row_rules if r.meta.get("rule") == "unique"), None)
        self.gx_max_rows = gx_max_rows
        self.expected_rows = expected_rows
        self._rng = np.random.default_rng(seed)
        self._gx_parts: list[pd.DataFrame] = []
        self._gx_rows = 0
        self.sampled = False
        dist = [r for r in suite.gate("distribution")]
        self._cat_cols = [r.kwargs["column"] for r in dist if r.meta.get("kind") == "categorical"]
        self._mean_rules = [r for r in dist if r.meta.get("kind") == "mean"]
        self.stats: dict[str, Any] = {
            "rows": 0,
            "valid": 0,
            "quarantined": 0,
            "raw_columns": [],
            "rule_counts": Counter(),
            "nonnull": Counter(),
            "unparseable": Counter(),
            "time_max": None,
            "time_type": dataset.column(dataset.time_column).type,
            "categorical": {c: Counter() for c in self._cat_cols},
            "means": {r.kwargs["column"]: [0.0, 0] for r in self._mean_rules},
        }

    # ------------------------------------------------------------------ one chunk
    def process(self, raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Validate one chunk. Returns (valid typed rows, quarantined rows)."""
        raw = raw.reset_index(drop=True)
        n = len(raw)
        if not self.stats["raw_columns"]:
            self.stats["raw_columns"] = [str(c) for c in raw.columns]
        done = self.stats["rows"]  # rows of the batch before this chunk
        rows = {c: m[done : done + n] for c, m in self.known_rows.items()} or None
        parsed = parse_chunk(self.dataset, raw, self.known, rows)
        frame = parsed.frame
        fails: list[tuple[Rule, np.ndarray]] = []
        for rule in self.rules:
            m = rule_mask(rule, frame, self.params)
            if m.any():
                fails.append((rule, m))
        if self.unique_rule is not None:
            m = self.keys.later_duplicates(frame)
            if m.any():
                fails.append((self.unique_rule, m))
        bad = np.zeros(n, dtype=bool)
        for rule, m in fails:
            bad |= m
            self.stats["rule_counts"][rule.name] += int(m.sum())
        self._update_stats(parsed, frame, bad)
        self._keep_for_gx(frame)
        cols = self.dataset.column_names
        valid = frame.loc[~bad, cols].reset_index(drop=True)
        quarantined = self._quarantine_rows(raw, parsed, fails, bad)
        return valid, quarantined

    def _update_stats(self, parsed: ParsedChunk, frame: pd.DataFrame, bad: np.ndarray) -> None:
        st = self.stats
        st["rows"] += len(frame)
        st["quarantined"] += int(bad.sum())
        st["valid"] += int((~bad).sum())
        for c, text in parsed.raw.items():
            st["nonnull"][c] += len(text) - text.null_count
        for c, m in parsed.unparseable.items():
            st["unparseable"][c] += int(m.sum())
        t = frame[self.dataset.time_column]
        if t.notna().any():
            tmax = pd.Timestamp(t.max()).isoformat()
            if st["time_max"] is None or tmax > st["time_max"]:
                st["time_max"] = tmax
        for c in self._cat_cols:
            st["categorical"][c].update({str(k): int(v) for k, v in frame[c].value_counts().items()})
        for r in self._mean_rules:
            col = r.kwargs["column"]
            vals = frame[col][condition_mask(frame, r.kwargs)].dropna()
            st["means"][col][0] += float(vals.astype("float64").sum())
            st["means"][col][1] += len(vals)

    def _keep_for_gx(self, frame: pd.DataFrame) -> None:
        expected = self.expected_rows
        if (
            not self.sampled
            and self._gx_rows + len(frame) <= self.gx_max_rows
            and (expected is None or expected <= self.gx_max_rows)
        ):
            self._gx_parts.append(frame)
            self._gx_rows += len(frame)
            return
        self.sampled = True
        rate = GX_SAMPLE_ROWS / max(expected or 0, self.stats["rows"], 1)
        take = self._rng.random(len(frame)) < min(1.0, rate * 1.2)
        self._gx_parts.append(frame.loc[take])
        self._gx_rows += int(take.sum())

    def gx_frame(self) -> pd.DataFrame:
        """The frame GX validates: the whole batch, or a uniform sample of at most ``gx_max_rows`` rows."""
        if not self._gx_parts:
            cols = {c.name: pd.Series(dtype="str") for c in self.dataset.columns}
            return pd.DataFrame(cols)
        df = pd.concat(self._gx_parts, ignore_index=True)
        if self.sampled and len(df) > GX_SAMPLE_ROWS:
            df = df.sample(n=GX_SAMPLE_ROWS, random_state=0).reset_index(drop=True)
        return df

    def _quarantine_rows(
        self, raw: pd.DataFrame, parsed: ParsedChunk, fails: list[tuple[Rule, np.ndarray]], bad: np.ndarray
    ) -> pd.DataFrame:
        """One row per failing input line: every expectation it failed and a reason for each.

        Vectorised per rule: values are fetched in bulk, not per cell.
        """
        idx = np.flatnonzero(bad)
        if len(idx) == 0:
            return pd.DataFrame(columns=store.QUARANTINE_COLUMNS)
        rows_l: list[np.ndarray] = []
        cols_l: list[list[str]] = []
        names_l: list[list[str]] = []
        reasons_l: list[list[str]] = []
        for order, (rule, m) in enumerate(fails):
            ridx = np.flatnonzero(m)
            cols, reasons = failure_reasons(rule, parsed, ridx, self.dataset, self.params)
            rows_l.append(ridx * len(fails) + order)  # sort key: row, then rule order
            cols_l.append(cols)
            names_l.append([rule.name] * len(ridx))
            reasons_l.append(reasons)
        keys = np.concatenate(rows_l)
        order_ = np.argsort(keys, kind="stable")
        flat_cols = np.array([c for cl in cols_l for c in cl], dtype=object)[order_]
        flat_names = np.array([n for nl in names_l for n in nl], dtype=object)[order_]
        flat_reasons = np.array([r for rl in reasons_l for r in rl], dtype=object)[order_]
        row_of = keys[order_] // len(fails)
        starts = np.flatnonzero(np.r_[True, row_of[1:] != row_of[:-1]])
        ends = np.r_[starts[1:], len(row_of)]
        col_out, exp_out, reason_out = [], [], []
        for s0, e0 in zip(starts.tolist(), ends.tolist(), strict=True):
            col_out.append(",".join(dict.fromkeys(c for c in flat_cols[s0:e0] if c)))
            exp_out.append("; ".join(flat_names[s0:e0]))
            reason_out.append("; ".join(flat_reasons[s0:e0]))
        rows_idx = row_of[starts]  # == idx, sorted
        lines = raw["_line"].to_numpy()[rows_idx] if "_line" in raw.columns else rows_idx + 2
        data_cols = [c for c in raw.columns if not str(c).startswith("_")]
        sub = raw.iloc[rows_idx][data_cols].astype(object)
        raw_json = sub.to_json(orient="records", lines=True, force_ascii=False).splitlines()
        at = pd.Timestamp(self.as_of if isinstance(self.as_of, datetime) else as_of_end(self.as_of))
        return pd.DataFrame(
            {
                "dataset": self.dataset.name,
                "source_file": self.source_file,
                "source_line": np.asarray(lines, dtype=np.int64),
                "column": col_out,
                "expectation": exp_out,
                "reason": reason_out,
                "raw_row": raw_json,
                "quarantined_at": at,
            },
            columns=store.QUARANTINE_COLUMNS,
        )

    def final_stats(self) -> dict[str, Any]:
        """JSON-friendly statistics of the whole batch."""
        st = dict(self.stats)
        for k in ("rule_counts", "nonnull", "unparseable"):
            st[k] = dict(st[k])
        st["categorical"] = {c: dict(v) for c, v in st["categorical"].items()}
        return st
