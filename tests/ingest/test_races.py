"""A landing file replaced while it is ingested (issue 16, item 2): the recorded hash is of the content loaded.

The attack: the hash was taken before the read, so in 3 of 10 races the ingest log held the hash of other
content and the real file was then skipped forever as "already ingested". Here each race replaces the file (an
atomic rename, as a writer would) the moment ingestion first opens it.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
from datetime import datetime
from pathlib import Path

import pytest

from proactive_ml.ingest.files import ingest_path
from proactive_ml.ingest.mapping import load_sources
from proactive_ml.ingest.sources import ingest_sources
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

AS_OF = datetime(2026, 1, 2)
HEADER = "customer_id,email,name,plan,signup_date,country,timezone,monthly_revenue,marketing_consent\n"
RACES = 10


def _customers(tag: str) -> bytes:
    return (
        HEADER + f"{tag},{tag.lower()}@example.org,N {tag},pro,2025-01-01,DE,Europe/Berlin,10,true\n"
    ).encode()


def _replace_on_first_open(monkeypatch: pytest.MonkeyPatch, replacements: dict[Path, bytes]) -> None:
    """The first time each target is opened, it is atomically replaced (the open handle keeps the old content)."""
    real = builtins.open
    pending = dict(replacements)

    def racing_open(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        handle = real(file, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and Path(file) in pending:
            target = Path(file)
            tmp = target.with_name(".incoming")
            tmp.write_bytes(pending.pop(target))
            os.replace(tmp, target)
        return handle

    monkeypatch.setattr(builtins, "open", racing_open)
    monkeypatch.setattr(io, "open", racing_open)


def _races(tmp_path: Path, n: int) -> tuple[Path, dict[Path, bytes], dict[str, bytes]]:
    """n landing files A<i>, each to be replaced by B<i> during ingestion; every version by customer id."""
    landing = tmp_path / "landing"
    (landing / "customers").mkdir(parents=True)
    replacements, versions = {}, {}
    for i in range(n):
        target = landing / "customers" / f"customers-{i:02d}.csv"
        versions[f"A{i}"], versions[f"B{i}"] = _customers(f"A{i}"), _customers(f"B{i}")
        target.write_bytes(versions[f"A{i}"])
        replacements[target] = versions[f"B{i}"]
    return landing, replacements, versions


def _wrong_hashes(wh: Warehouse, versions: dict[str, bytes]) -> int:
    """Ingest-log rows whose hash is not the hash of the content loaded from that file."""
    log = wh.query("SELECT path, file_sha256 FROM ingest_log")
    rows = wh.query("SELECT customer_id FROM customers")["customer_id"].tolist()
    loaded = {f"customers-{int(c[1:]):02d}.csv": c for c in rows}
    return sum(
        sha != hashlib.sha256(versions[loaded[Path(p).name]]).hexdigest()
        for p, sha in zip(log["path"], log["file_sha256"], strict=True)
    )


def test_a_file_replaced_during_ingest_is_recorded_under_the_hash_of_what_was_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Settings, duck: Warehouse
) -> None:
    landing, replacements, versions = _races(tmp_path, 1)
    with monkeypatch.context() as m:
        _replace_on_first_open(m, replacements)
        ingest_path(duck, landing, settings, AS_OF)
    assert _wrong_hashes(duck, versions) == 0
    # the content now on disk is loaded by the next run, not skipped as "already ingested"
    assert ingest_path(duck, landing, settings, AS_OF).loaded == 1
    assert set(duck.query("SELECT customer_id FROM customers")["customer_id"]) == {"A0", "B0"}


@pytest.mark.slow
def test_ten_replace_during_ingest_races_record_no_wrong_hash(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Settings, duck: Warehouse
) -> None:
    landing, replacements, versions = _races(tmp_path, RACES)
    with monkeypatch.context() as m:
        _replace_on_first_open(m, replacements)
        summary = ingest_path(duck, landing, settings, AS_OF)
    assert summary.loaded == RACES
    assert _wrong_hashes(duck, versions) == 0


def test_a_mapped_file_replaced_during_ingest_records_the_hash_of_what_was_loaded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, settings: Settings, duck: Warehouse
) -> None:
    landing = tmp_path / "company"
    landing.mkdir()
    target = landing / "clients.csv"
    versions = {"A1": _customers("A1"), "B1": _customers("B1")}
    target.write_bytes(versions["A1"])
    cols = HEADER.strip().split(",")
    mapping = "\n".join(f"      {c}: {c}" for c in cols)
    (landing / "sources.yaml").write_text(
        f"company: race\nlanding_dir: {landing}\ndatasets:\n  customers:\n    files: [clients.csv]\n"
        f"    format: csv\n    columns:\n{mapping}\n"
    )
    config = load_sources(landing / "sources.yaml")
    with monkeypatch.context() as m:
        _replace_on_first_open(m, {target: versions["B1"]})
        ingest_sources(duck, config, settings, AS_OF)
    ids = set(duck.query("SELECT customer_id FROM customers")["customer_id"])
    assert ids == {"A1"}  # what was open when the file was replaced
    again = ingest_sources(duck, config, settings, AS_OF)
    assert again.loaded == 1  # the new content is not taken for the old
    assert set(duck.query("SELECT customer_id FROM customers")["customer_id"]) == {"A1", "B1"}
