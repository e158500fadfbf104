"""The report's recognition section: the credit board and the success stories, safe for a file that travels.

The board (:func:`~proactive_ml.measurement.credit.credit_board`) shows, per person, the customers they worked and
their own held-out customers, the difference in retention with its 95% interval in plain words, and the credited
saves it is ranked on. The stories (:func:`~proactive_ml.measurement.credit.success_stories`) are quoted with
personal data removed: the customer's own name, email addresses, links, phone numbers, handles and ids (customer
ids, send keys, long numbers) never leave in the report; the desk, behind its login, is where a person sees who the
customer is.

:func:`board_table`, :func:`mask_story_text` and :func:`render_recognition` are pure; :func:`recognition_html`
reads the warehouse.
"""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from typing import Any

import pandas as pd

from proactive_ml.measurement.credit import credit_board, success_stories
from proactive_ml.measurement.themes import redact

# ids: our customer ids and send keys, any word mixing letters and 4+ digits, and long digit runs
_IDS = re.compile(r"\b(?:sk_[0-9a-f]{6,}|c\d{4,}|(?=\w*\d{4,})[A-Za-z_]*\d[\w-]*|\d{5,})\b")
KIND_WORDS = {"rating": "Rating", "reply": "Reply", "outcome": "Call outcome"}


def _pts(x: float) -> str:
    return f"{x * 100:+.1f}"


def difference_words(effect: float, low: float, high: float) -> str:
    """A difference in retention as a person reads it: ``+4.1 pts (95%: -1.0 to +9.2)`` and whether it is sure."""
    if pd.isna(effect):
        return "not measurable yet"
    words = f"{_pts(effect)} pts (95%: {_pts(low)} to {_pts(high)})"
    if low > 0:
        return words + ", a measured win"
    if high < 0:
        return words + ", fewer stayed"
    return words + ", cannot tell yet"


def board_table(board: pd.DataFrame) -> pd.DataFrame:
    """The board as the report shows it: person, worked, held out, retention, difference in words, credited saves."""
    if board.empty:
        return pd.DataFrame()
    return pd.DataFrame(
        {
            "Person": board["display_name"].astype(str),
            "Customers worked": board["worked"].astype(int),
            "Held out (their fair comparison)": board["held_out"].astype(int),
            "Stayed, worked": board["retained_worked"].astype(float),
            "Stayed, held out": board["retained_held"].astype(float),
            "Difference in 30-day retention": [
                difference_words(e, lo, hi)
                for e, lo, hi in zip(board["effect"], board["low"], board["high"], strict=True)
            ],
            "Credited saves": board["credited_saves"].astype(float),
            "Tasks closed (not ranked on)": board["tasks_closed"].astype(int),
        }
    )


def mask_story_text(text: Any, names: list[str] | None = None, limit: int = 300) -> str:
    """Quoted text with names, addresses, links, phone numbers, handles and ids removed (see module doc)."""
    t = redact(str(text or ""), limit=10_000)
    for name in names or []:
        for part in str(name or "").split():
            if len(part) >= 2:
                t = re.sub(rf"\b{re.escape(part)}\b", "[name]", t, flags=re.IGNORECASE)
    t = re.sub(r"\[name\](?:\s+\[name\])+", "[name]", t)  # one mark for a whole name
    t = _IDS.sub("[id]", t)
    return t if len(t) <= limit else t[: limit - 1].rstrip() + "…"


def render_recognition(board: pd.DataFrame, stories: list[dict[str, Any]], table: Any) -> str:
    """The two report sections as HTML (``table`` renders a frame, e.g. the report's own table helper)."""
    fmt = {"Stayed, worked": ".1%", "Stayed, held out": ".1%", "Credited saves": ".1f"}
    items = []
    for s in stories:
        who = html.escape(str(s.get("display_name") or "the outreach"))
        when = pd.Timestamp(s["at"]).date().isoformat() if pd.notna(s.get("at")) else ""
        quote = html.escape(str(s.get("text") or ""))
        note = f"<br><small>{who}'s note: {html.escape(str(s['note']))}</small>" if s.get("note") else ""
        items.append(
            f"<li><strong>{KIND_WORDS.get(str(s.get('kind')), 'Story')}</strong> · {who} · "
            f"{html.escape(str(s.get('playbook') or ''))} · {when}<br>“{quote}”{note}</li>"
        )
    feed = f"<ul>{''.join(items)}</ul>" if items else "<p><em>No stories yet.</em></p>"
    return (
        "<h2>Recognition: saves credited against the randomized holdout</h2><p>Who would work each task was "
        "decided before the holdout draw, so each person's held-out customers are their fair comparison. Ranked "
        "on credited saves (the difference in retention, pulled toward the team's when the numbers are small, "
        "times customers worked), never on activity.</p>"
        + table(board_table(board), fmt)
        + "<h2>Success stories</h2><p>Good ratings, thankful replies and calls where the customer said they "
        "will stay, tied to the task or email that earned them (names, addresses and ids removed).</p>" + feed
    )


def recognition_html(wh: Any, as_of: date | datetime, table: Any, limit: int = 12) -> str:
    """The board and the stories for the report, read from the warehouse, quoted text masked."""
    board = credit_board(wh, as_of)
    stories = success_stories(wh, as_of, limit)
    ids = sorted({str(s["customer_id"]) for s in stories if s.get("customer_id") is not None})
    names: dict[str, list[str]] = {}
    if ids:
        params = {f"c{i}": c for i, c in enumerate(ids)}
        rows = wh.query(
            f"SELECT customer_id, name FROM customers WHERE customer_id IN ({', '.join(':' + k for k in params)})",
            params,
        )
        for cid, name in zip(rows["customer_id"], rows["name"], strict=True):
            names.setdefault(str(cid), []).append(str(name or ""))
    safe = [
        {
            **s,
            "text": mask_story_text(s.get("text"), names.get(str(s.get("customer_id")), [])),
            "note": mask_story_text(s["note"], names.get(str(s.get("customer_id")), []))
            if s.get("note")
            else None,
        }
        for s in stories
    ]
    return render_recognition(board, safe, table)
