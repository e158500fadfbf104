"""The gallery: every email playbook x variant x language rendered for a few real customers, as offline HTML.

``proactive-ml preview --all --out DIR`` writes ``DIR/index.html`` (one table linking every page, with subject
and the blocks shown) and one page per email under ``DIR/<playbook>/``: the HTML exactly as sent, and its plain
text. Nothing is loaded from the network (no CDN, inline styles only), so a person can review every email in a
browser before anything is sent. The customers are real rows of the current data, chosen per playbook to show its
content blocks (a customer with an open request for ``open_ticket``, ...), rendered with the same functions as
delivery (:func:`~proactive_ml.outreach.templates.render_email`).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from html import escape
from pathlib import Path

import pandas as pd

from proactive_ml.identity import send_key
from proactive_ml.outreach.content import languages
from proactive_ml.outreach.facts import Facts, load_facts
from proactive_ml.outreach.playbooks import PlaybookConfig
from proactive_ml.outreach.templates import (
    Recipient,
    RenderedEmail,
    UnsafeContent,
    render_email,
    template_folder,
)
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

POOL = 400  # customers whose facts are looked at to pick the examples
_STYLE = (
    "body{font-family:Arial,Helvetica,sans-serif;margin:24px;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;font-size:14px}"
    "pre{white-space:pre-wrap;background:#f6f6f6;padding:12px}iframe{width:100%;height:640px;border:1px solid #ccc}"
)
_WANTS = {
    "open_ticket": lambda f: bool(f.ticket_category or f.ticket_subject),
    "next_step": lambda f: bool(f.next_feature),
    "renewal": lambda f: f.renewal_date is not None,
    "usage_recap": lambda f: bool(f.top_features),
}


def pick_customers(facts: dict[str, Facts], blocks: tuple[str, ...], n: int) -> list[str]:
    """Up to ``n`` customer ids, those whose facts fill most of ``blocks`` first (ties by id)."""

    def filled(cid: str) -> int:
        return sum(1 for b in blocks if b in _WANTS and _WANTS[b](facts[cid]))

    return sorted(facts, key=lambda c: (-filled(c), c))[:n]


def _page(title: str, e: RenderedEmail, html_name: str) -> str:
    head = f"<p><b>To:</b> {escape(str(e.to))}<br><b>Subject:</b> {escape(e.subject)}</p>"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title><style>{_STYLE}</style>"
        f"</head><body><p><a href='../index.html'>&larr; all emails</a></p><h1>{escape(title)}</h1>{head}"
        f"<iframe src='{escape(html_name)}' title='HTML version'></iframe><h2>Plain text</h2>"
        f"<pre>{escape(e.text)}</pre></body></html>"
    )


def write_gallery(
    wh: Warehouse,
    settings: Settings,
    config: PlaybookConfig,
    out: Path | str,
    *,
    as_of: datetime,
    per_playbook: int = 2,
    template_dir: Path | str | None = None,
) -> Path:
    """Render the gallery into ``out``; returns the index path. Refused messages are listed, not hidden."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tdir = str(template_dir or template_folder(settings))
    cust = wh.query(
        "SELECT customer_id, email, name FROM customers ORDER BY customer_id LIMIT :n", {"n": POOL}
    )
    cust = cust.drop_duplicates("customer_id")
    facts = load_facts(wh, cust["customer_id"].astype(str).tolist(), as_of)
    people = {str(r.customer_id): r for r in cust.itertuples(index=False)}
    rows: list[str] = []
    for pb in (p for p in config.playbooks if p.action == "email" and p.template):
        (out / pb.name).mkdir(exist_ok=True)
        for cid in pick_customers(facts, pb.blocks, per_playbook):
            person = people[cid]
            for v in pb.variants:
                for lang in languages(tdir):
                    rows.append(
                        _one(out, pb.name, v.name, lang, person, facts[cid], config, settings, tdir, as_of)
                    )
    index = out / "index.html"
    index.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>Email gallery</title><style>{_STYLE}</style>"
        f"</head><body><h1>Every email, before it is sent</h1><p>As of {escape(as_of.date().isoformat())}: "
        f"{len(rows)} emails (playbook &times; variant &times; language &times; customer).</p><table><tr>"
        "<th>playbook</th><th>variant</th><th>language</th><th>customer</th><th>subject</th></tr>"
        + "".join(rows)
        + "</table></body></html>",
        encoding="utf-8",
    )
    return index


def _one(
    out: Path,
    playbook: str,
    variant: str,
    lang: str,
    person: object,
    facts: Facts,
    config: PlaybookConfig,
    settings: Settings,
    tdir: str,
    as_of: datetime,
) -> str:
    """Render one email into its pages; the index row that links it."""
    pb = config.get(playbook)
    cid = str(getattr(person, "customer_id", ""))
    name = getattr(person, "name", None)
    r = Recipient(
        send_key(cid, pb.name, as_of.date()),
        str(getattr(person, "email", "") or ""),
        None if pd.isna(name) else str(name),
        dataclasses.replace(facts, locale=lang),
        variant,
    )
    stem = f"{variant}-{lang}-{''.join(ch if ch.isalnum() else '_' for ch in cid)}"
    cells = (
        f"<td>{escape(pb.name)}</td><td>{escape(variant)}</td><td>{escape(lang)}</td><td>{escape(cid)}</td>"
    )
    try:
        e = render_email(r, pb, settings, tdir)
    except UnsafeContent as exc:
        return f"<tr>{cells}<td>refused: {escape(str(exc))}</td></tr>"
    (out / pb.name / f"{stem}.email.html").write_text(e.html, encoding="utf-8")
    title = f"{pb.name} / {variant} / {lang} / {cid}"
    (out / pb.name / f"{stem}.html").write_text(_page(title, e, f"{stem}.email.html"), encoding="utf-8")
    link = f"<a href='{escape(pb.name)}/{escape(stem)}.html'>{escape(e.subject)}</a>"
    return f"<tr>{cells}<td>{link}</td></tr>"
