"""Data Docs render offline: no CDN stylesheet, script or image; the index lists every run; no helper columns."""

from __future__ import annotations

import re
from datetime import datetime

from proactive_ml.sim.samples import clean_tickets
from proactive_ml.validation import validate_batch
from proactive_ml.validation.docs_offline import offline_page
from proactive_ml.validation.gx_run import deferred_data_docs

REMOTE = re.compile(r"""<(script|link|img)\b[^>]*(src|href)=["']https?://""", re.IGNORECASE)


def test_data_docs_need_no_network_and_link_each_run(duck, settings) -> None:  # type: ignore[no-untyped-def]
    known = {"customer_id": ["c1", "c2"]}
    day1, day2 = datetime(2026, 3, 1), datetime(2026, 3, 2)
    first = validate_batch(
        duck, "tickets", clean_tickets(20, ["c1", "c2"], day1), "t/1.csv", day1, settings, extra_known=known
    )
    with deferred_data_docs(settings):  # the demo's path: pages built once at the end
        second = validate_batch(
            duck,
            "tickets",
            clean_tickets(20, ["c1", "c2"], day2),
            "t/2.csv",
            day2,
            settings,
            extra_known=known,
        )
    docs = settings.data_docs_dir
    pages = list(docs.rglob("*.html"))
    assert len(pages) >= 3  # index, two runs (and the suite's page)
    for page in pages:
        assert not REMOTE.search(page.read_text()), page

    runs = duck.query("SELECT source_file, docs_path FROM validation_runs ORDER BY as_of")
    assert runs["docs_path"].tolist() == [str(first.docs_path), str(second.docs_path)]
    index = (docs / "index.html").read_text()
    for result in (first, second):
        assert result.docs_path.exists()  # each run's own page, not the index
        assert result.docs_path.name != "index.html"
        assert result.docs_path.relative_to(docs).as_posix() in index  # listed, server-side, with its link
    assert index.index("2026-03-02") < index.index("2026-03-01")  # newest first

    page = second.docs_path.read_text()
    assert "'_decode_error'" not in page  # not in the observed column list
    assert not re.search(r'href="#section-\d+"[^>]*>\s*_decode_error', page)  # nor in the table of contents


def test_a_failed_helper_check_stays_visible() -> None:
    page = (
        '<html><head></head><body><ul><li class="nav-item col-12"><a class="nav-link" href="#section-3">\n'
        "_decode_error\n</a></li></ul>"
        '<div id="section-3" class="ge-section"><h5 class="m-0" >\n_decode_error\n</h5>'
        '<i class="fas fa-times text-danger"></i></div></body></html>'
    )
    out = offline_page(page)
    assert 'href="#section-3"' in out
    assert "#section-3{display:none}" not in out
