"""CLI subcommand ``erase`` (light module: the work is imported when the handler runs)."""

from __future__ import annotations

import argparse


def _erase(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from proactive_ml.erasure.erase import compact_duckdb, erase_customer
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    with open_warehouse(s.resolved_warehouse_url) as wh:
        done = erase_customer(wh, s, args.customer_id, now=datetime.now(UTC).replace(tzinfo=None))
    compact_duckdb(s.resolved_warehouse_url)  # no erased value left in the embedded file's free blocks
    print(json.dumps(done.summary(), indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add the ``erase`` subcommand."""
    p = sub.add_parser(
        "erase",
        help="erase a customer (GDPR Art. 17): suppress their address forever and remove their personal data",
        description=(
            "Suppress the customer's address forever (by its SHA-256, so a re-import stays suppressed), then remove "
            "their address, name and free text from every warehouse table, the receiver's raw store and the files "
            "under the data folder (landing copies, reports, Data Docs, the local outbox). Kept: the hashed "
            "suppression and the pseudonymous ledger of decisions and sends (proof of consent handling)."
        ),
    )
    p.add_argument("customer_id", metavar="CUSTOMER_ID", help="the customer_id to erase, as in the warehouse")
    p.set_defaults(func=_erase)
