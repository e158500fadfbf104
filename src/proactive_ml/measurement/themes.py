"""Themes a customer-service lead can act on: a TF-IDF + NMF topic model over complaint text (pure functions).

Texts (negative survey comments, replies to our emails, ticket subjects) are cleaned first: quoted replies and
signatures cut, HTML entities and tags decoded, links, e-mail addresses, @handles, phone numbers and digits
removed, words reduced to a crude stem so *delay / delayed / delays* count once. scikit-learn's
``TfidfVectorizer`` (words and two-word phrases, English stop words except negations, which are kept inside
phrases so "did not help" never reads "did help", sublinear tf) and ``NMF`` then find the themes; every text
goes to the theme that explains most of it (none when it has no known word).

Each theme gets its top terms (shown in their most common written form, none repeating a phrase shown), its
size, two or three representative quotes with personal data masked, and, when customer ids and churn flags are given, the churn rate of customers
who raised it vs those who did not, so "what to fix" can be ranked by what it costs. Time is linear in the
number of texts (the vectorizer and each NMF iteration are linear in the non-zeros).

Defaults were chosen on the airline tweets by a fixed rule (see ``bench/themes.py``): 8 themes, ``min_df`` 5
(scaled down for small corpora), words and bigrams, ``max_df`` 0.5.
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from typing import Any

import numpy as np
import pandas as pd
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

N_THEMES = 8
MIN_DF = 5
COLUMNS = ["theme", "terms", "texts", "share", "quotes"]
CHURN_COLUMNS = ["customers", "churn_raised", "churn_others", "extra_churned"]

_QUOTED = re.compile(
    r"(^\s*>.*$|^\s*On .{0,200}wrote:.*$|^-{2,}\s*Original Message.*$|^From: .*$)",
    re.IGNORECASE | re.MULTILINE,
)
_SIGNATURE = re.compile(
    r"(^--\s*$|^Sent from my .*$|^(best|kind)?\s*regards,?\s*$|^cheers,?\s*$|^thanks?,?\s*$|^thank you,?\s*$)",
    re.IGNORECASE | re.MULTILINE,
)
_TAG = re.compile(r"<[^>]{0,200}>")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_URL = re.compile(r"(https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_LEADING_HANDLES = re.compile(r"^(\s*(\.?@\w+[:,]?))+\s*")
_PHONE = re.compile(r"\+?\d[\d ().-]{6,}\d")
_NON_WORD = re.compile(r"[^a-z]+")
_SUFFIX = re.compile(r"(?<=[a-z]{3})(?:ations?|ing|ed|es|s)$")
_EXTRA_STOP = {
    "hi",
    "hello",
    "dear",
    "thanks",
    "thank",
    "pls",
    "please",
    "just",
    "amp",
    "im",
    "ive",
    "dont",
    "cant",
}
# kept in two-word phrases ("not help", "no reply"), never a term alone: a stop list that drops them turns
# "the docs did not help" into "docs did help"
NEGATIONS = frozenset(
    {"not", "no", "never", "nothing", "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "wont", "none"}
)
_OPENERS = NEGATIONS - {"nothing", "none"}
STOP_WORDS = frozenset(ENGLISH_STOP_WORDS | _EXTRA_STOP) - NEGATIONS


def _body(text: str) -> str:
    """The writer's own words: entities decoded, tags dropped, cut at the first quoted reply or signature."""
    t = _TAG.sub(" ", html.unescape(text or ""))
    for pattern in (_QUOTED, _SIGNATURE):
        m = pattern.search(t)
        if m and m.start() > 0:
            t = t[: m.start()]
    return t


def redact(text: str, limit: int = 220) -> str:
    """A quote safe to show: own words only, addresses, links, handles and phone numbers masked, whitespace squeezed."""
    t = _body(text)
    t = _EMAIL.sub("[email]", t)
    t = _URL.sub("[link]", t)
    t = _HANDLE.sub("@…", _LEADING_HANDLES.sub("", t))
    t = _PHONE.sub("[phone]", t)
    t = " ".join(t.split())
    return t if len(t) <= limit else t[: limit - 1].rstrip() + "…"


def stem(word: str) -> str:
    """A crude suffix stem (``delayed`` -> ``delay``, ``bags`` -> ``bag``); enough to merge word forms."""
    return _SUFFIX.sub("", word)


_STOP_TERMS = STOP_WORDS | {stem(w) for w in STOP_WORDS}


def clean(text: str, forms: dict[str, Counter[str]] | None = None) -> str:
    """Lower-case stemmed words of a text without quoted replies, signatures, links, addresses, handles or digits.

    ``forms`` (optional) collects, per stem, how often each written word was seen, to show terms readably.
    """
    t = _body(text)
    t = _PHONE.sub(" ", _HANDLE.sub(" ", _URL.sub(" ", _EMAIL.sub(" ", t))))
    words = []
    for w in _NON_WORD.sub(" ", t.lower().replace("'", "")).split():
        if len(w) < 2 or w in STOP_WORDS:
            continue
        s = w if w in NEGATIONS else stem(w)
        if forms is not None:
            forms[s][w] += 1
        words.append(s)
    return " ".join(words)


def _readable(term: str, forms: dict[str, Counter[str]]) -> str:
    return " ".join(forms[s].most_common(1)[0][0] if forms.get(s) else s for s in term.split())


def distinct_terms(ranked: list[str], n: int) -> list[str]:
    """Up to ``n`` terms of ``ranked`` (best first), none saying again what a shown phrase says.

    A word inside a phrase already shown is skipped ("docs" after "confusing docs"); a phrase takes the place of
    the first shown word it contains ("confusing" becomes "confusing docs").
    """
    chosen: list[str] = []
    for term in ranked:
        words = set(term.split())
        if any(words <= set(c.split()) for c in chosen):
            continue
        covered = [i for i, c in enumerate(chosen) if set(c.split()) < words]
        if covered:
            chosen[covered[0]] = term
            chosen = [c for i, c in enumerate(chosen) if i not in covered[1:]]
        else:
            chosen.append(term)
        if len(chosen) >= n:
            break
    return chosen


def _vectorizer(n_texts: int, min_df: int) -> TfidfVectorizer:
    return TfidfVectorizer(
        analyzer=_terms,
        min_df=max(1, min(min_df, n_texts // 200)),
        max_df=0.5 if n_texts >= 50 else 1.0,
        sublinear_tf=True,
    )


def _terms(cleaned: str) -> list[str]:
    """A cleaned text's words and two-word phrases: negations only in phrases ("not help", "does nothing").

    A negation opens a phrase; only "nothing" or "none" may also close one.
    """
    words = [w for w in cleaned.split() if w not in _STOP_TERMS]
    pairs = [f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if b not in _OPENERS]
    return [w for w in words if w not in NEGATIONS] + pairs


def fit_themes(
    texts: list[str],
    n_themes: int = N_THEMES,
    *,
    min_df: int = MIN_DF,
    n_terms: int = 5,
    n_quotes: int = 3,
    random_state: int = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Themes in ``texts`` and each text's theme.

    Returns:
        ``(table, assignment)``: one row per theme (``theme`` number, ``terms`` its top terms, ``texts`` how many
        texts it holds, ``share`` of all texts, ``quotes`` up to ``n_quotes`` redacted examples), largest first;
        ``assignment[i]`` is the theme number of ``texts[i]`` (-1: no theme). Empty table when too little text.
    """
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    cleaned = [clean(t, forms) for t in texts]
    empty = pd.DataFrame(columns=COLUMNS), np.full(len(texts), -1)
    k = min(n_themes, max(1, len(texts) // 2))
    if not any(cleaned) or k < 1:
        return empty
    vec = _vectorizer(len(texts), min_df)
    try:
        M = vec.fit_transform(cleaned)
    except ValueError:  # no term left after pruning
        return empty
    k = min(k, M.shape[1])
    nmf = NMF(k, init="nndsvda", random_state=random_state, max_iter=200, tol=1e-3)
    # text i's part in theme j is W[i, j] * H[j]: compare themes by its size, not by W alone (scale is arbitrary)
    W = nmf.fit_transform(M) * np.linalg.norm(nmf.components_, axis=1)
    assignment = np.where(W.max(axis=1) > 0, W.argmax(axis=1), -1)
    vocab = vec.get_feature_names_out()
    rows = []
    for j in range(k):
        members = np.flatnonzero(assignment == j)
        if not len(members):
            continue
        ranked = [vocab[i] for i in np.argsort(-nmf.components_[j])[: 4 * n_terms]]
        terms = [_readable(t, forms) for t in distinct_terms(ranked, n_terms)]
        quotes: list[str] = []
        for i in members[np.argsort(-W[members, j])]:
            q = redact(texts[i])
            if q and q not in quotes:
                quotes.append(q)
            if len(quotes) >= n_quotes:
                break
        rows.append([j, ", ".join(terms), len(members), len(members) / len(texts), quotes])
    table = pd.DataFrame(rows, columns=COLUMNS).sort_values("texts", ascending=False, kind="stable")
    return table.reset_index(drop=True), assignment


def theme_churn(
    table: pd.DataFrame, assignment: np.ndarray, customer_ids: Any, churned: pd.Series
) -> pd.DataFrame:
    """Add the churn rate of customers who raised each theme vs all other customers in ``churned``.

    ``customer_ids`` is aligned with the texts; ``churned`` is a 0/1 (or bool) series indexed by customer id over
    the whole population compared. ``extra_churned`` = (rate raised - rate others) x customers who raised it:
    what the theme costs, to rank what to fix. Sorted by it, largest first.
    """
    ids = pd.Series(list(customer_ids))
    flags = churned.astype(float)
    flags = flags[~flags.index.duplicated()]
    out = table.copy()
    stats = []
    for j in out["theme"]:
        raised = pd.Index(ids[(assignment == j) & ids.notna().to_numpy()].unique())
        inside = flags.index.isin(raised)
        n_in = int(inside.sum())
        r_in = float(flags[inside].mean()) if n_in else float("nan")
        r_out = float(flags[~inside].mean()) if (~inside).any() else float("nan")
        stats.append([n_in, r_in, r_out, (r_in - r_out) * n_in if n_in else float("nan")])
    out[CHURN_COLUMNS] = pd.DataFrame(stats, index=out.index, columns=CHURN_COLUMNS)
    return out.sort_values("extra_churned", ascending=False, kind="stable", na_position="last").reset_index(
        drop=True
    )


#: weeks compared by :func:`theme_trend`: the last ``TREND_WEEKS`` against the ``TREND_WEEKS`` before them
TREND_WEEKS = 4


def _trend_words(before: int, recent: int) -> str:
    """'rising', 'falling' or 'steady' with the counts of the two periods, e.g. 'rising: 3 → 9'."""
    if recent >= 1.25 * before + 2:
        word = "rising"
    elif before >= 1.25 * recent + 2:
        word = "falling"
    else:
        word = "steady"
    return f"{word}: {before} → {recent}"


def theme_trend(table: pd.DataFrame, assignment: np.ndarray, dates: Any, as_of: Any) -> pd.DataFrame:
    """Add each theme's trend: its texts in the last 4 weeks vs the 4 weeks before (``trend``, in words).

    ``dates`` is aligned with the texts; ``as_of`` ends the last week. ``weekly`` holds the counts of the last 8
    weeks, oldest first, for a chart.
    """
    ts = pd.to_datetime(pd.Series(list(dates)), errors="coerce")
    end = pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)
    week = np.floor((end - ts).dt.total_seconds() / (7 * 86_400)).to_numpy()  # 0: the last 7 days
    out = table.copy()
    weekly, words = [], []
    for j in out["theme"]:
        mine = week[(assignment == j) & ~np.isnan(week)]
        counts = [int((mine == w).sum()) for w in range(2 * TREND_WEEKS - 1, -1, -1)]
        weekly.append(counts)
        words.append(_trend_words(sum(counts[:TREND_WEEKS]), sum(counts[TREND_WEEKS:])))
    out["weekly"] = weekly
    out["trend"] = words
    return out
