"""CLI subcommands of the desk (light module: the web stack and argon2 load only when a handler runs).

``proactive-ml desk add-user | list-users | serve | flags``.
"""

from __future__ import annotations

import argparse

from proactive_ml.argtypes import output_file

ROLES = ("agent", "lead", "admin")  # kept equal to desk.accounts.ROLES (a test checks)


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password and whether it was generated (then it is printed once)."""
    import getpass
    import sys

    from proactive_ml.desk.accounts import generate_password
    from proactive_ml.errors import UserError

    if args.generate:
        return generate_password(), True
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if not sys.stdin.isatty():
        raise UserError("no terminal to ask for a password: use --password-stdin or --generate")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password again: "):
        raise UserError("the two passwords differ")
    return first, False


def _add_user(args: argparse.Namespace) -> int:
    from proactive_ml.desk.accounts import create_person
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    password, generated = _read_password(args)
    s = get_settings()
    with open_warehouse(s.resolved_warehouse_url) as wh:
        create_person(wh, args.username, args.name, args.role, args.team, password)
    print(f"added {args.username} ({args.role}{', team ' + args.team if args.team else ''})")
    if generated:
        print(f"one-time password (shown once, not stored): {password}")
    return 0


def _list_users(args: argparse.Namespace) -> int:
    from proactive_ml.desk.accounts import list_people
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    with open_warehouse(get_settings().resolved_warehouse_url) as wh:
        people = list_people(wh)
    print(f"{'username':<20} {'role':<6} {'team':<12} {'active':<6} name")
    for p in people:
        print(
            f"{p.username:<20} {p.role:<6} {p.team or '-':<12} {'yes' if p.active else 'no':<6} {p.display_name}"
        )
    return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from proactive_ml.desk.accounts import list_people
    from proactive_ml.desk.app import create_app
    from proactive_ml.outreach.playbooks import load_playbooks
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    config = load_playbooks(args.playbooks or s.playbooks_file or None)
    with open_warehouse(s.resolved_warehouse_url) as wh:
        app = create_app(wh, s, playbooks=config)
        if not list_people(wh):
            print(
                "nobody can log in yet: add a person with `proactive-ml desk add-user USERNAME --name ... --role ...`"
            )
        print(f"the desk is at http://{args.host}:{args.port}/login (Ctrl+C stops it)")
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


def _flags(args: argparse.Namespace) -> int:
    from proactive_ml.desk.flags import flag_rates, write_review_labels
    from proactive_ml.outreach.playbooks import load_playbooks
    from proactive_ml.outreach.quality import paused_playbooks
    from proactive_ml.settings import get_settings
    from proactive_ml.warehouse import open_warehouse

    s = get_settings()
    with open_warehouse(s.resolved_warehouse_url) as wh:
        rates = flag_rates(wh)
        n = write_review_labels(wh, args.out) if args.out else None
    paused = paused_playbooks(rates, load_playbooks(args.playbooks or s.playbooks_file or None))
    print(f"{'playbook':<28} {'worked':>7} {'flagged':>8} {'wrong rate':>11}  outreach")
    for r in rates.itertuples():
        rate = "" if r.wrong_rate != r.wrong_rate else f"{100 * r.wrong_rate:.1f}%"
        state = "paused" if r.playbook in paused else "running"
        print(f"{r.playbook:<28} {r.worked:>7} {r.flagged:>8} {rate:>11}  {state}")
    if n is not None:
        print(f"{n} review labels (one per worked task, suggestion_wrong 1/0) written to {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # noqa: SLF001
    """Add the ``desk`` command and its actions."""
    p = sub.add_parser("desk", help="the web desk for customer-success people: accounts, serving, flags")
    dsub = p.add_subparsers(dest="desk_command", metavar="ACTION", required=True)

    a = dsub.add_parser("add-user", help="add a person to the desk (password hashed with argon2)")
    a.add_argument("username", help="login name: lowercase letters, digits, '.', '_' or '-'")
    a.add_argument("--name", required=True, help='the name shown on the desk (e.g. "Ada Lovelace")')
    a.add_argument(
        "--role", choices=ROLES, required=True, help="agent: own tasks; lead: team, approves; admin: all"
    )
    a.add_argument("--team", default=None, help="team name (leads see and approve for their team)")
    how = a.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first stdin line"
    )
    how.add_argument("--generate", action="store_true", help="generate a one-time password and print it once")
    a.set_defaults(func=_add_user)

    ls = dsub.add_parser("list-users", help="list the people of the desk (never their passwords)")
    ls.set_defaults(func=_list_users)

    s = dsub.add_parser("serve", help="serve the desk's web pages")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8030, help="port (default 8030)")
    s.add_argument(
        "--playbooks",
        default=None,
        help="playbooks YAML (default: PROACTIVE_PLAYBOOKS_FILE, else models/playbooks.yaml)",
    )
    s.set_defaults(func=_serve)

    f = dsub.add_parser("flags", help="wrong-suggestion rate per playbook; --out writes review labels")
    f.add_argument("--out", type=output_file, default=None, help="CSV of review labels for the next training")
    f.add_argument(
        "--playbooks",
        default=None,
        help="playbooks YAML (default: PROACTIVE_PLAYBOOKS_FILE, else models/playbooks.yaml)",
    )
    f.set_defaults(func=_flags)
