"""A small simulated company with the optional contract columns emails use, and the awkward cases real data has.

Built on :mod:`proactive_ml.sim.small_company`; adds ``customers.locale`` and ``customers.owner`` (some missing),
``tickets.subject`` and ``tickets.assignee`` (some missing, some with digits or quotes), and names a template must
survive: empty, placeholders ("Customer", "N/A"), an address, a display name with an address in it, non-ASCII.
Two customer ids share one address (different case), for the one-person-one-email rule. Pure function of the seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from proactive_ml.sim.small_company import make_raw_tables

AWKWARD_NAMES = (
    "",
    None,
    "Customer",
    "N/A",
    "customer@example.com",
    "Mary <mary@evil.org>",
    "Zoë O'Brien",
    "  ",
)
FIRST_NAMES = ("Ada", "Grace", "Jonas", "Léa", "Mateo", "Amara", "Sven", "Chloé", "Ravi", "Ines")
LAST_NAMES = ("Lovelace", "Hopper", "Weber", "Martin", "García", "Okafor", "Berg", "Dubois", "Patel", "Costa")
SUBJECTS = (
    "Export to CSV fails on large reports",
    "Invoice 2026-114 shows the wrong VAT",
    "How do I add a second workspace?",
    'Error "timeout" when syncing',
    "Dashboard loads slowly since the update",
)
AGENTS = ("Jonas Weber", "Priya Nair", "Tom Becker")
OWNERS = ("Anna Schmidt", "Marc Dupont", "Sam Lee")


def content_world(n_customers: int = 120, n_days: int = 120, seed: int = 11) -> dict[str, pd.DataFrame]:
    """The four raw tables, with locale, owner, ticket subject and assignee filled as described above."""
    t = make_raw_tables(n_customers, n_days, seed)
    rng = np.random.default_rng(seed)
    c = t["customers"].copy()
    n = len(c)
    names: list[str | None] = [f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" for _ in range(n)]
    for i, awkward in enumerate(AWKWARD_NAMES):
        if i < n:
            names[i] = awkward
    c["name"] = names
    c["locale"] = rng.choice(np.array(["en-US", "de-DE", "fr-FR", "de", None, "xx"], dtype=object), n)
    c["owner"] = rng.choice(np.array([*OWNERS, None, None], dtype=object), n)
    c["marketing_consent"] = True
    c["cancelled_at"] = pd.NaT
    if n > 11:  # one person, two customer ids: the same address in another case, with spaces
        c.loc[11, "email"] = " " + str(c.loc[10, "email"]).upper()
    u = t["usage_events"]
    rare = u["feature"].isin(["alert_config", "report_export", "integration_sync"])
    t["usage_events"] = u[~(rare & (u["customer_id"].str[-1].isin(list("02468"))))]  # untried by half
    tk = t["tickets"].copy()
    m = len(tk)
    end = pd.Timestamp(tk["opened_at"].max())
    reopen = (pd.to_datetime(tk["opened_at"]) > end - pd.Timedelta(days=20)) & (rng.random(m) < 0.5)
    tk["closed_at"] = tk["closed_at"].where(~reopen)
    tk["status"] = np.where(reopen, "open", tk["status"])
    tk["subject"] = rng.choice(np.array([*SUBJECTS, None], dtype=object), m)
    tk["assignee"] = rng.choice(np.array([*AGENTS, None], dtype=object), m)
    t["customers"], t["tickets"] = c, tk
    return t
