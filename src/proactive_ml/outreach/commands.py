"""CLI subcommands of this package (light module: heavy imports happen inside handlers)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from proactive_ml.argtypes import existing_file, iso_date, iso_time, output_file

if TYPE_CHECKING:  # light module: the templates (Jinja) load only when a handler runs
    from datetime import datetime

    from proactive_ml.outreach.playbooks import PlaybookConfig
    from proactive_ml.outreach.templates import RenderedEmail
    from proactive_ml.settings import Settings


def _preview(args: argparse.Namespace) -> int:
    from datetime import date, datetime

    from proactive_ml.errors import UserError
    from proactive_ml.identity import send_key
    from proactive_ml.outreach.facts import load_facts
    from proactive_ml.outreach.playbooks import load_playbooks
    from proactive_ml.outreach.template_folder import check_templates, template_folder
    from proactive_ml.outreach.templates import Recipient, UnsafeContent, render_email
    from proactive_ml.resources import open_resources
    from proactive_ml.settings import get_settings

    s = get_settings()
    config = load_playbooks(args.playbooks or s.playbooks_file or None)
    check_templates(config, template_folder(s))
    as_of = date.fromisoformat(args.as_of) if args.as_of else date.today()
    t = datetime.combine(as_of, datetime.min.time())
    if args.all:
        return _gallery(args, s, config, t)
    if not args.playbook or not args.customer:
        raise UserError("preview needs a PLAYBOOK and --customer ID (or --all --out DIR for the gallery)")
    try:
        pb = config.get(args.playbook)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from exc
    if pb.action != "email":
        print(
            f"playbook {pb.name} creates a CS task, not an email. Guidance for the person:\n\n{pb.guidance}"
        )
        return 0
    with open_resources(s) as res:
        wh = res.warehouse
        c = wh.query(
            "SELECT customer_id, email, name, marketing_consent FROM customers WHERE customer_id = :c",
            {"c": args.customer},
        )
        if c.empty:
            raise UserError(f"no customer {args.customer!r}")
        _check_reachable(c.iloc[0])
        facts = load_facts(wh, [args.customer], t).get(str(args.customer))
    sk = send_key(str(c.iloc[0]["customer_id"]), pb.name, as_of)
    try:
        e = render_email(
            Recipient(sk, str(c.iloc[0]["email"]), c.iloc[0]["name"], facts, args.variant), pb, s
        )
    except UnsafeContent as exc:
        raise UserError(f"this message would be refused and dead-lettered: {exc}") from exc
    _print_email(e, args.format)
    return 0


def _check_reachable(customer: Any) -> None:
    """Refuse, in words, to preview an email outreach would never send: no address, or no consent.

    Consent is read as outreach reads it (:func:`~proactive_ml.outreach.policy.consented`: "false" is no; an
    explicit no also stops staff tasks, an unknown answer stops only email).
    """
    import pandas as pd

    from proactive_ml.errors import UserError
    from proactive_ml.outreach.policy import consented, declined

    cid, email, consent = customer["customer_id"], customer["email"], customer["marketing_consent"]
    if declined(consent):
        raise UserError(
            f"customer {cid!r} said no to proactive contact (marketing_consent: no): outreach never emails them "
            "and creates no staff task for them"
        )
    if email is None or pd.isna(email) or not str(email).strip():
        raise UserError(
            f"customer {cid!r} has no email address: outreach never emails them; a staff task can still reach them"
        )
    if not consented(consent):
        raise UserError(
            f"customer {cid!r} has not agreed to proactive email (marketing_consent: unknown): outreach never "
            "emails them; a staff task can still reach them"
        )


def _gallery(args: argparse.Namespace, s: Settings, config: PlaybookConfig, t: datetime) -> int:
    from proactive_ml.errors import UserError
    from proactive_ml.outreach.gallery import write_gallery
    from proactive_ml.resources import open_resources

    if not args.out:
        raise UserError("preview --all needs --out DIR (the folder the gallery is written to)")
    with open_resources(s) as res:
        index = write_gallery(res.warehouse, s, config, args.out, as_of=t)
    print(f"gallery written: {index}")
    return 0


def _print_email(e: RenderedEmail, fmt: str) -> None:
    import json

    if fmt == "json":
        fields = ("to", "subject", "headers", "custom_args", "categories", "text", "html")
        print(json.dumps({f: getattr(e, f) for f in fields}, indent=2))
        return
    from email.headerregistry import Address

    to = ", ".join(str(Address(t.get("name", ""), addr_spec=t["email"])) for t in e.to)
    print(f"To: {to}\nSubject: {e.subject}\nVariant: {e.variant}  Language: {e.lang}")
    for k, v in {**e.headers}.items():
        print(f"{k}: {v}")
    print(f"custom_args: {e.custom_args}  categories: {e.categories}\n")
    print(e.text if fmt == "text" else e.html)


def _outreach(args: argparse.Namespace) -> int:
    import json
    from datetime import UTC, datetime

    from proactive_ml.outreach.run import run_outreach
    from proactive_ml.resources import open_resources
    from proactive_ml.settings import get_settings

    s = get_settings()
    require_champion(s, "churn")
    as_of = datetime.fromisoformat(args.as_of) if args.as_of else datetime.now(UTC).replace(tzinfo=None)
    with open_resources(s) as res:
        summary = run_outreach(res.warehouse, s, as_of, deliver=not args.no_send, sender=res.sender)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def require_champion(settings: Settings, target: str) -> None:
    """UserError unless ``target`` has an ``@champion`` model: outreach never acts without one (like ``score``)."""
    from proactive_ml.errors import UserError
    from proactive_ml.modeling import registry

    if registry.champion_version(settings, target) is None:
        raise UserError(
            f"no champion model for {target!r}: registered model {registry.model_name(settings, target)!r} has "
            f"no @champion alias, so no score can be trusted and nothing is decided or sent. Train with "
            f"`proactive-ml train --target {target}` (or promote a version with `proactive-ml promote --target "
            f"{target} --version N`), run `proactive-ml score`, then run outreach again."
        )


def _tasks_export(args: argparse.Namespace) -> int:
    from proactive_ml.outreach.tasks_csv import export_tasks
    from proactive_ml.resources import open_resources
    from proactive_ml.settings import get_settings

    with open_resources(get_settings()) as res:
        n = export_tasks(res.warehouse, args.out)
    print(f"{n} open customer-success tasks written to {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add this package's subcommands."""
    p = sub.add_parser(
        "preview", help="render exactly what a playbook would send to a customer, without sending"
    )
    p.add_argument("playbook", nargs="?", help="playbook name, as in the playbooks YAML (omit with --all)")
    p.add_argument("--customer", default=None, help="customer_id")
    p.add_argument("--variant", default=None, help="variant name (default: the playbook's first)")
    p.add_argument(
        "--all",
        action="store_true",
        help="render every playbook x variant x language for a few real customers",
    )
    p.add_argument("--out", default=None, help="with --all: the folder of the offline HTML gallery")
    p.add_argument("--as-of", type=iso_date, default=None, help="send window date (default: today)")
    p.add_argument("--format", choices=("text", "html", "json"), default="text", help="output (default text)")
    p.add_argument(
        "--playbooks",
        type=existing_file,
        default=None,
        help="playbooks YAML (default: PROACTIVE_PLAYBOOKS_FILE, else models/playbooks.yaml)",
    )
    p.set_defaults(func=_preview)

    p = sub.add_parser("outreach", help="decide, record and send today's proactive outreach")
    p.add_argument("--as-of", type=iso_time, default=None, help="ISO date or datetime (UTC); default: now")
    p.add_argument(
        "--no-send", action="store_true", help="record decisions, ledger and tasks; do not deliver"
    )
    p.set_defaults(func=_outreach)

    p = sub.add_parser("tasks", help="customer-success tasks")
    tsub = p.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    e = tsub.add_parser("export", help="write open CS tasks to a CSV file")
    e.add_argument("--out", type=output_file, required=True, help="CSV file to write")
    e.set_defaults(func=_tasks_export)
