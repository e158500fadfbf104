"""Data Docs that work offline: no CDN, a server-side index, no internal helper columns.

GX's pages load Bootstrap, jQuery, bootstrap-table and Font Awesome from CDNs, and its index draws the list of
runs with JavaScript: offline (or behind a strict proxy) the index is empty. After each GX build this module

- removes every ``http(s)://`` stylesheet and script from the pages and inlines a small style sheet instead;
- hides the sections, table-of-contents entries and column lists of the internal helper columns (names starting
  with ``_``, e.g. ``_decode_error``) when their checks passed (a failed one stays visible);
- writes ``index.html`` itself: a plain HTML table of every validation page on disk, newest first.

Pure standard library and files: nothing is fetched, ever. Pages already processed are skipped (a marker).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

MARKER = "<!-- proactive-ml: offline -->"
RUNS_FILE = "runs.json"  # page -> (suite, run name, run time, status), kept next to index.html

_REMOTE = re.compile(
    r"""<link\b[^>]*href=["']https?://[^"']*["'][^>]*>"""
    r"""|<script\b[^>]*src=["']https?://[^"']*["'][^>]*>\s*</script>"""
    r"""|<img\b[^>]*src=["']https?://[^"']*["'][^>]*>""",
    re.IGNORECASE,
)
_TOC_ENTRY = re.compile(
    r"""<li class="nav-item col-12">\s*<a [^>]*href="#(section-\d+)"[^>]*>\s*(_\w+)\s*</a>\s*</li>"""
)
_SECTION = re.compile(r"""<div id="(section-\d+)" class="ge-section""")
_HELPER_IN_LIST = re.compile(r"""'_\w+', ?""")
_STATUS = re.compile(r"""Status:</span>\s*<i [^>]*></i>\s*(\w+)""")

STYLE = """<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fff}
.container-fluid,.container{padding:0 1rem}.row{display:flex;flex-wrap:wrap}.col-12{flex:0 0 100%}
.col-6{flex:0 0 50%;max-width:50%}.col-md-2{flex:0 0 18%}.col-md-10{flex:0 0 80%}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .5rem;
text-align:left;vertical-align:top}th{background:#f4f4f4}.alert-secondary{background:#eef;padding:.4rem;
margin-top:1rem}.badge{display:inline-block;background:#eee;border-radius:3px;padding:0 .3rem;margin:1px}
.text-success{color:#17803d}.text-danger{color:#b00020}.fa-check-circle::before{content:"\\2714"}
.fa-times::before,.fa-times-circle::before{content:"\\2716"}i.fas,i.fa{font-style:normal}
.collapse:not(.show),.d-none,.cooltip .top{display:none}nav,.ge-navigation-sidebar-link{font-size:.9rem}
.nav-item{list-style:none}a{color:#0b5cad}
</style>"""


def make_offline(docs_dir: Path) -> Path | None:
    """Make every new page under ``docs_dir`` offline and rewrite the index. Returns the index path."""
    if not docs_dir.is_dir():
        return None
    runs_file = docs_dir / RUNS_FILE
    runs: dict[str, list[str]] = json.loads(runs_file.read_text()) if runs_file.exists() else {}
    for page in sorted((docs_dir / "validations").rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        rel = page.relative_to(docs_dir).as_posix()
        if MARKER in text and rel in runs:
            continue
        text = offline_page(text)
        page.write_text(text, encoding="utf-8")
        runs[rel] = _describe(page.relative_to(docs_dir / "validations"), text)
    for folder in ("expectations",):
        for page in (docs_dir / folder).rglob("*.html"):
            text = page.read_text(encoding="utf-8")
            if MARKER not in text:
                page.write_text(offline_page(text), encoding="utf-8")
    runs = {k: v for k, v in runs.items() if (docs_dir / k).exists()}
    runs_file.write_text(json.dumps(runs, indent=0, sort_keys=True))
    index = docs_dir / "index.html"
    index.write_text(render_index(runs), encoding="utf-8")
    return index


def offline_page(text: str) -> str:
    """One GX page with its CDN tags replaced by an inline style, and passing helper columns hidden."""
    text = _REMOTE.sub("", text)
    hidden = _passing_helper_sections(text)
    text = _TOC_ENTRY.sub(lambda m: "" if m.group(1) in hidden else m.group(0), text)
    text = _HELPER_IN_LIST.sub("", text)
    hide = "".join(f"#{s}{{display:none}}" for s in sorted(hidden))
    extra = STYLE + (f"<style>{hide}</style>" if hide else "")
    if "</head>" in text:
        return text.replace("</head>", f"{extra}{MARKER}</head>", 1)
    return f"{extra}{MARKER}{text}"


def _passing_helper_sections(text: str) -> set[str]:
    """Ids of the sections about a helper column (``_name``) whose checks all passed."""
    starts = [(m.start(), m.group(1)) for m in _SECTION.finditer(text)]
    hidden = set()
    for i, (start, sid) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        body = text[start:end]
        header = re.search(r"<h5 [^>]*>\s*(\S+)\s*</h5>", body)
        if header and header.group(1).startswith("_") and "text-danger" not in body:
            hidden.add(sid)
    return hidden


def _describe(rel: Path, text: str) -> list[str]:
    """(suite, run name, run time, status) of a page at ``validations/<suite>/<run>/<time>/<batch>.html``."""
    parts = rel.parts
    suite, run = (parts[0], parts[1]) if len(parts) >= 2 else (rel.stem, "")
    when = parts[2] if len(parts) >= 3 else ""
    match = re.match(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})", when)
    if match:
        y, mo, d, h, mi, s = match.groups()
        when = f"{y}-{mo}-{d} {h}:{mi}:{s} UTC"
    status = _STATUS.search(text)
    return [suite, run, when, status.group(1) if status else "?"]


def render_index(runs: dict[str, list[str]]) -> str:
    """The site's index: one row per validation page, newest first, links relative to the index."""
    rows = sorted(runs.items(), key=lambda kv: (kv[1][2], kv[1][0], kv[1][1]), reverse=True)
    body = "\n".join(
        '<tr><td>{t}</td><td>{s}</td><td><a href="{href}">{r}</a></td><td class="{cls}">{st}</td></tr>'.format(
            t=html.escape(when),
            s=html.escape(suite),
            href=html.escape(path, quote=True),
            r=html.escape(run),
            cls="text-success" if status == "Succeeded" else "text-danger",
            st=html.escape(status),
        )
        for path, (suite, run, when, status) in rows
    )
    failed = sum(1 for v in runs.values() if v[3] != "Succeeded")
    return (
        '<!doctype html><html><head><meta charset="utf-8"><title>Data Docs: validation runs</title>'
        f'{STYLE}</head><body><div class="container"><h1>Validation runs</h1>'
        f"<p>{len(runs)} run(s), {failed} not succeeded. Newest first; each run links its own page.</p>"
        "<table><thead><tr><th>run time</th><th>dataset (suite)</th><th>run</th><th>status</th></tr></thead>"
        f"<tbody>\n{body}\n</tbody></table></div></body></html>\n"
    )
