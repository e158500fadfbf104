"""The simulated companies: deterministic per seed, files in the company's own formats, a consistent ground truth
(the retailer), and a ground truth a model can learn better than "rank by days since the last purchase"."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from proactive_ml.cli import main
from proactive_ml.settings import PROJECT_ROOT
from proactive_ml.sim.companies import (
    RetailConfig,
    churn_label,
    retail_truth,
    snapshot_frame,
    write_retail,
    write_snapshot,
)
from proactive_ml.sim.world import simulate_to_landing

SMALL = replace(RetailConfig(), days=240)
HORIZON = 60


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _read_log(out: Path, cfg: RetailConfig) -> pd.DataFrame:
    parts = [
        pd.read_csv(
            p, sep=r"\s+", header=None, names=["id", "date", "items", "value"], dtype={0: str, 1: str}
        )
        for p in sorted((out / "purchases").glob("*.txt"))
    ]
    log = pd.concat(parts, ignore_index=True)
    log["day"] = (pd.to_datetime(log["date"], format="%Y%m%d") - pd.Timestamp(cfg.start)).dt.days
    log["idx"] = log["id"].astype(int) - 1
    return log


@pytest.fixture(scope="module")
def small_retail(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("retail")
    return out, write_retail(out, n_customers=400, seed=3, config=SMALL)


def test_retail_is_deterministic_per_seed(tmp_path: Path, small_retail: tuple[Path, dict]) -> None:
    out, summary = small_retail
    again = write_retail(tmp_path / "again", n_customers=400, seed=3, config=SMALL)
    write_retail(tmp_path / "other", n_customers=400, seed=4, config=SMALL)
    assert _files(tmp_path / "again") == _files(out)
    assert {k: v for k, v in again.items() if k not in ("out_dir", "files")} == {
        k: v for k, v in summary.items() if k not in ("out_dir", "files")
    }
    assert _files(tmp_path / "other") != _files(out)


def test_retail_purchase_log_is_whitespace_text_with_yyyymmdd_and_same_day_repeats(
    small_retail: tuple[Path, dict],
) -> None:
    out, summary = small_retail
    paths = sorted((out / "purchases").glob("*.txt"))
    assert [p.name for p in paths] == ["purchases_2023.txt", "purchases_2024.txt"]
    lines = [line for p in paths for line in p.read_text(encoding="ascii").splitlines()]
    assert len(lines) == summary["purchases"]
    assert all(re.fullmatch(r"\d{6} +\d{8} +\d+ +\d+\.\d\d", line) for line in lines)  # no header
    assert any("  " in line for line in lines)  # runs of spaces, not single separators
    log = _read_log(out, SMALL)
    assert log["day"].between(0, SMALL.days - 1).all()
    repeats = log.duplicated(["id", "date"], keep=False)
    assert repeats.sum() == summary["same_day_repeat_lines"] > 0
    assert (log["value"] > 0).all()
    assert log[["day", "idx"]].apply(tuple, axis=1).is_monotonic_increasing  # sorted like an export by date


def test_retail_customers_file_has_partial_contacts_and_y_n_opt_in(small_retail: tuple[Path, dict]) -> None:
    out, _ = small_retail
    text = (out / "customers" / "customers.csv").read_text(encoding="utf-8")
    assert text.splitlines()[0] == "cust_id,region,age_band,member_since,email,name,opt_in,rating"
    cust = pd.read_csv(out / "customers" / "customers.csv", dtype=str, keep_default_na=False)
    assert len(cust) == 400
    assert cust["cust_id"].str.fullmatch(r"\d{6}").all()
    assert cust["member_since"].str.fullmatch(r"\d\d/\d\d/\d{4}").all()
    assert set(cust["opt_in"]) == {"Y", "N"}
    for col in ("email", "name", "rating"):
        assert 0 < (cust[col] == "").sum() < len(cust), col
    assert set(cust.loc[cust["rating"] != "", "rating"]) <= {"1", "2", "3", "4", "5"}


def test_retail_ground_truth_agrees_with_the_purchases(small_retail: tuple[Path, dict]) -> None:
    out, summary = small_retail
    log = _read_log(out, SMALL)
    truth = retail_truth(400, seed=3, config=SMALL)
    start = pd.Timestamp(SMALL.start)
    first = log.groupby("idx")["day"].min()
    last = log.groupby("idx")["day"].max()
    signup_day = (truth["signup_date"] - start).dt.days
    assert (first.reindex(range(400)).to_numpy() == signup_day.to_numpy()).all()  # signup = first purchase
    gone = (truth["churned_at"] - start).dt.days
    churned = gone.notna().to_numpy()
    assert churned.sum() == summary["churned_in_period"] > 0
    assert (last.to_numpy()[churned] < gone.to_numpy()[churned]).all()  # nobody buys after churning
    onset = (truth["churn_onset"] - start).dt.days.to_numpy()
    assert not np.isnan(onset[churned]).any()
    assert (onset[churned] <= gone.to_numpy()[churned]).all()  # the decline comes before the end
    cutoff = SMALL.start + timedelta(days=120)
    label = churn_label(truth, cutoff, HORIZON)
    expected = truth["churned_at"].notna() & (
        truth["churned_at"] <= pd.Timestamp(cutoff + timedelta(HORIZON))
    )
    assert label.to_numpy().tolist() == expected.tolist()


def _features(log: pd.DataFrame, cust: pd.DataFrame, cutoff: int) -> pd.DataFrame:
    """RFM and trend features of every customer as of a cutoff day (data strictly before it)."""
    n = len(cust)
    past = log[log["day"] < cutoff]
    idx, day, value = past["idx"].to_numpy(), past["day"].to_numpy(), past["value"].to_numpy()
    f = pd.DataFrame(index=range(n))
    last = np.full(n, -(10**6))
    np.maximum.at(last, idx, day)
    first = np.full(n, 10**6)
    np.minimum.at(first, idx, day)
    f["recency"] = cutoff - last
    f["tenure"] = np.maximum(cutoff - first, 1)
    f["n_all"] = np.bincount(idx, minlength=n)
    f["v_all"] = np.bincount(idx, value, minlength=n)
    for w in (30, 90, 180):
        recent = day >= cutoff - w
        f[f"n{w}"] = np.bincount(idx[recent], minlength=n)
        f[f"v{w}"] = np.bincount(idx[recent], value[recent], minlength=n)
    rate_all = f["n_all"] / f["tenure"]
    f["recency_x_rate"] = f["recency"] * rate_all
    f["trend_30_180"] = (f["n30"] / 30 + 1e-3) / (f["n180"] / 180 + 1e-3)
    f["trend_90_all"] = (f["n90"] / 90 + 1e-3) / (rate_all + 1e-3)
    f["basket_trend"] = (f["v90"] / np.maximum(f["n90"], 1)) / (f["v_all"] / np.maximum(f["n_all"], 1))
    f["rating"] = pd.to_numeric(cust["rating"]).fillna(0).to_numpy()
    for col in ("region", "age_band"):
        f = f.join(pd.get_dummies(cust[col], prefix=col, dtype=float))
    return f


def _log_scaled(f: pd.DataFrame) -> pd.DataFrame:
    """Counts, sums, days and ratios on a log scale (a linear model's view of RFM)."""
    out = f.copy()
    skewed = [c for c in f.columns if not c.startswith(("region_", "age_band_", "rating"))]
    out[skewed] = np.log1p(np.maximum(f[skewed].to_numpy(dtype=float), 0.0))
    return out


def test_a_quick_model_beats_recency_on_customers_active_at_the_cutoff(tmp_path: Path) -> None:
    cfg = replace(RetailConfig(), days=730)  # two years keep the test fast
    n = 2500
    write_retail(tmp_path, n_customers=n, seed=11, config=cfg)
    log = _read_log(tmp_path, cfg)
    cust = pd.read_csv(tmp_path / "customers" / "customers.csv", dtype={"cust_id": str})
    truth = retail_truth(n, seed=11, config=cfg)
    test_cut = cfg.days - HORIZON
    frames, truths, lapses = [], [], []
    for cut in (test_cut - HORIZON - 120, test_cut - HORIZON - 60, test_cut - HORIZON, test_cut):
        f = _features(log, cust, cut)
        active = (f["n90"] > 0).to_numpy()  # at least one purchase in the 90 days before the cutoff
        bought = np.zeros(n, dtype=bool)
        bought[log.loc[log["day"].between(cut, cut + HORIZON - 1), "idx"].to_numpy()] = True
        frames.append(_log_scaled(f[active]))
        truths.append(churn_label(truth, cfg.start + timedelta(days=cut), HORIZON).to_numpy()[active])
        lapses.append(~bought[active])  # the product's inactivity label: no purchase within the horizon
    x_test = frames[-1]
    assert len(x_test) > 1000
    for labels in (truths, lapses):
        y_test = labels[-1]
        assert 0.03 < y_test.mean() < 0.3
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(pd.concat(frames[:-1]), np.concatenate(labels[:-1]))
        model_auc = roc_auc_score(y_test, model.predict_proba(x_test)[:, 1])
        recency_auc = roc_auc_score(y_test, x_test["recency"])
        assert recency_auc > 0.7  # recency is a real baseline here, not a straw man
        assert model_auc >= recency_auc + 0.05, (model_auc, recency_auc)


def test_snapshot_export_is_semicolon_latin1_with_decimal_commas_and_yes_no(tmp_path: Path) -> None:
    summary = write_snapshot(tmp_path, n_customers=500, seed=2, as_of=date(2026, 3, 31))
    path = Path(summary["files"][0])
    assert path.name == "crm_export_20260331.csv"
    raw = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # latin-1 bytes such as 0xFC for ü
    text = raw.decode("latin-1")
    assert any(ch in text for ch in "üéçöøß")
    rows = [line.split(";") for line in text.split("\r\n") if line]
    header, body = rows[0], rows[1:]
    assert (header[0], header[-1], len(body)) == ("CustomerNo", "Churned", 500)
    col = {name: [r[i] for r in body] for i, name in enumerate(header)}
    assert all(re.fullmatch(r"\d+,\d\d", v) for v in col["MonthlyFee"])
    assert any(v == "" for v in col["Satisfaction"])
    assert all(re.fullmatch(r"(\d+,\d)?", v) for v in col["Satisfaction"])
    assert all(re.fullmatch(r"\d\d\.\d\d\.\d{4}", v) for v in col["CustomerSince"])
    assert set(col["Churned"]) == set(col["OptIn"]) == {"Yes", "No"}
    assert summary["churned"] == col["Churned"].count("Yes")
    back = pd.read_csv(path, sep=";", encoding="latin-1", decimal=",")
    assert back["MonthlyFee"].dtype == float
    assert back["Satisfaction"].isna().any()


def test_snapshot_is_deterministic_and_its_flag_follows_the_hidden_model() -> None:
    a = snapshot_frame(3000, seed=5)
    pd.testing.assert_frame_equal(a, snapshot_frame(3000, seed=5))
    assert not a.equals(snapshot_frame(3000, seed=6))
    churned = a["Churned"] == "Yes"
    assert 0.12 < churned.mean() < 0.35
    assert roc_auc_score(churned, a["churn_probability"]) > 0.75
    monthly = a["Contract"] == "Monthly"
    assert churned[monthly].mean() > 2 * churned[~monthly].mean()


@pytest.mark.parametrize("company", ["retail", "snapshot"])
def test_simulate_cli_writes_the_company_export(company: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["simulate", "--company", company, "--customers", "120", "--seed", "1", "--out", str(tmp_path)]
    assert main([*args, "--days", "60"] if company == "retail" else args) == 0
    assert "wrote the" in capsys.readouterr().out
    expected = ["customers/customers.csv", "purchases/purchases_2023.txt"]
    if company == "snapshot":
        expected = ["crm_export_20260630.csv"]
    assert sorted(_files(tmp_path)) == expected
    assert main(["simulate", "--company", company, "--world-path", "w.json", "--out", str(tmp_path)]) == 2


TELCO_HEADER = (
    "customerID,gender,SeniorCitizen,Partner,Dependents,tenure,PhoneService,MultipleLines,InternetService,"
    "OnlineSecurity,OnlineBackup,DeviceProtection,TechSupport,StreamingTV,StreamingMovies,Contract,"
    "PaperlessBilling,PaymentMethod,MonthlyCharges,TotalCharges,Churn"
)


def _mapping(name: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / "examples" / name / "sources.yaml").read_text(encoding="utf-8"))


def _check_rule(frame: pd.DataFrame, target: str, rule: str | dict, decimal: str) -> None:
    """The source column exists and its non-blank values cast the way the rule says."""
    if isinstance(rule, dict) and "constant" in rule:
        return
    src = rule if isinstance(rule, str) else rule["from"]
    assert src in frame.columns, (target, src)
    values = frame[src][frame[src].str.strip() != ""]  # may be empty: cancelled_at early in a world
    if isinstance(rule, dict) and "format" in rule:
        for v in values.iloc[:50]:
            datetime.strptime(v, rule["format"])  # noqa: DTZ007 - a format check, no time zone involved
    if isinstance(rule, dict) and True in rule:  # YAML reads the keys `true:`/`false:` as booleans
        assert set(values) <= {*rule[True], *rule[False]}, (target, set(values))
    if isinstance(rule, dict) and (rule.get("type") == "float" or rule.get("kind") == "numeric"):
        pd.to_numeric(values.str.replace(decimal, ".", regex=False))


def _check_mapping(spec: dict, landing: Path) -> None:
    for name, ds in spec["datasets"].items():
        files = sorted(landing.glob(ds["files"]))
        assert files, (name, ds["files"])
        delimiter = ds.get("delimiter", ",")
        frame = pd.concat(
            pd.read_csv(
                path,
                sep=r"\s+" if delimiter == "whitespace" else delimiter,
                encoding=ds.get("encoding", "utf-8"),
                header=0 if ds.get("header", True) else None,
                names=ds.get("names"),
                dtype=str,
                keep_default_na=False,
            )
            for path in files
        )
        rules = {**ds["columns"], **ds.get("attributes", {})}
        if "label" in ds:
            rules["label"] = ds["label"]
        for target, rule in rules.items():
            _check_rule(frame, target, rule, ds.get("decimal", "."))


def test_example_mappings_fit_the_files_the_simulated_companies_write(tmp_path: Path) -> None:
    for name in ("saas", "retail"):
        spec = _mapping(name)
        assert spec["landing_dir"] == f"../../data/examples/{name}"  # the README's `simulate --out`
    simulate_to_landing(tmp_path / "saas", n_customers=300, days=4, seed=1, progress=False)
    _check_mapping(_mapping("saas"), tmp_path / "saas")
    write_retail(tmp_path / "retail", n_customers=100, seed=1, config=SMALL)
    _check_mapping(_mapping("retail"), tmp_path / "retail")


def test_telco_mapping_reads_the_shared_file_in_place_and_names_its_columns() -> None:
    spec = _mapping("telco")
    landing = (PROJECT_ROOT / "examples" / "telco" / spec["landing_dir"]).resolve()
    assert landing == (PROJECT_ROOT.parent / "shared" / "data").resolve()  # the shared_data_dir default
    ds = spec["datasets"]["customers"]
    assert ds["files"] == "WA_Fn-UseC_-Telco-Customer-Churn.csv"
    header = TELCO_HEADER.split(",")
    rules = [*ds["columns"].values(), *ds["attributes"].values(), ds["label"]]
    used = {r if isinstance(r, str) else r["from"] for r in rules if isinstance(r, str) or "from" in r}
    assert used <= set(header)
    assert set(header) - used == {"gender"}  # every column is declared but the one left out on purpose
    path = landing / ds["files"]
    if path.is_file():  # in the main checkout: the real file, read the way the mapping says
        assert path.read_text(encoding="utf-8").splitlines()[0] == TELCO_HEADER
        _check_mapping(spec, landing)
