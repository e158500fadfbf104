"""Links and special files in a landing folder (issue 16, item 9): refused with a reason, never followed.

The attack: a link pointing outside the landing folder was followed and the first line of its target echoed in
the error; dangling links, FIFOs and devices were skipped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from proactive_ml.errors import IngestError, UserError
from proactive_ml.ingest.files import discover
from proactive_ml.ingest.mapping import load_sources
from proactive_ml.ingest.sources import plan_sources

SECRET = "root:x:0:0:SECRET-FIRST-LINE"
HEADER = "customer_id,email,name,plan,signup_date,country,timezone,monthly_revenue,marketing_consent\n"


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    (tmp_path / "outside.csv").write_text(SECRET + "\nmore secrets\n")
    root = tmp_path / "landing"
    (root / "customers").mkdir(parents=True)
    (root / "customers" / "good.csv").write_text(
        HEADER + "C1,a@example.org,A,pro,2025-01-01,DE,Europe/Berlin,1,true\n"
    )
    return root


def _refused(landing: Path) -> str:
    with pytest.raises(UserError) as err:
        discover(landing)
    msg = str(err.value)
    assert SECRET not in msg
    assert "more secrets" not in msg
    return msg


def test_a_link_pointing_outside_the_landing_folder_is_refused_not_followed(landing: Path) -> None:
    link = landing / "customers" / "passwd.csv"
    link.symlink_to(landing.parent / "outside.csv")
    msg = _refused(landing)
    assert f"{link}: symbolic link pointing outside the landing folder" in msg
    folder_link = landing / "usage_events"
    folder_link.symlink_to(landing.parent)  # a link to a folder outside: refused too, not walked
    assert f"{folder_link}: symbolic link pointing outside" in _refused(landing)


def test_dangling_links_and_fifos_are_refused_and_listed_with_their_reasons(landing: Path) -> None:
    dangling = landing / "customers" / "gone.csv"
    dangling.symlink_to(landing / "customers" / "nowhere.csv")
    fifo = landing / "customers" / "pipe.csv"
    os.mkfifo(fifo)
    msg = _refused(landing)
    assert "2 entries that cannot be ingested" in msg
    assert f"{dangling}: dangling symbolic link" in msg
    assert f"{fifo}: not a regular file: a FIFO (named pipe)" in msg


def test_a_device_is_refused_and_a_fifo_given_alone_does_not_hang() -> None:
    from proactive_ml.ingest.entries import refusal

    assert refusal(Path("/dev/null"), Path("/dev")) == "not a regular file: a character device"
    with pytest.raises(IngestError, match="not a regular file"):
        discover(Path("/dev/null"))


def test_a_fifo_swapped_in_after_discovery_is_refused_not_waited_on(tmp_path: Path) -> None:
    from proactive_ml.ingest.landing import read_bytes

    fifo = tmp_path / "customers.csv"
    os.mkfifo(fifo)
    with pytest.raises(IngestError, match="not a regular file"):
        read_bytes(fifo)


def test_links_inside_the_landing_folder_are_still_read(landing: Path) -> None:
    (landing / "archive").mkdir()
    (landing / "archive" / "customers-old.csv").write_text(HEADER)
    (landing / "customers" / "old.csv").symlink_to(landing / "archive" / "customers-old.csv")
    names = sorted(p.name for _, p in discover(landing))
    assert names == ["customers-old.csv", "good.csv", "old.csv"]


def test_mapped_sources_refuse_the_same_entries(landing: Path) -> None:
    link = landing / "customers" / "passwd.csv"
    link.symlink_to(landing.parent / "outside.csv")
    (landing / "sources.yaml").write_text(
        f"company: x\nlanding_dir: {landing}\ndatasets:\n  customers:\n    files: ['customers/*.csv']\n"
        "    format: csv\n    columns:\n      customer_id: customer_id\n      signup_date: signup_date\n"
    )
    with pytest.raises(UserError) as err:
        plan_sources(load_sources(landing / "sources.yaml"))
    assert f"{link}: symbolic link pointing outside the landing folder" in str(err.value)
    assert SECRET not in str(err.value)
