"""The desk's web application (Starlette, server-rendered Jinja pages, no script): sessions, CSRF, roles, login.

Safety, in one place:

- **Sessions**: a signed cookie (itsdangerous via Starlette's ``SessionMiddleware``) that expires after
  ``desk_session_hours`` (the signature carries its time, so an old cookie is refused by the server too); HttpOnly,
  SameSite=Lax, Secure in production. A login starts a new session (no fixation).
- **CSRF**: every session holds a random token; every POST form carries it in ``csrf_token`` and a request without
  it, or with another one, is refused with 403 (``hmac.compare_digest``). The login form has its own pre-session
  token.
- **Who**: every route but the login page needs a logged-in, active person (else 303 to ``/login``); what they may
  see is decided in :mod:`proactive_ml.desk.tasks` (404 for a task outside it).
- **Login rate limit**: :class:`~proactive_ml.desk.accounts.LoginLimiter`, per username and per client.
- **Pages**: Jinja autoescape on, StrictUndefined; a Content-Security-Policy without scripts, no framing.

Nothing is logged about customers; a failed login logs no password and no username.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from proactive_ml.desk.accounts import LoginLimiter, Person, authenticate, get_person
from proactive_ml.desk.tasks import DeskError
from proactive_ml.outreach.authority import Authority
from proactive_ml.outreach.playbooks import PlaybookConfig, load_playbooks
from proactive_ml.settings import Settings
from proactive_ml.warehouse import Warehouse

TEMPLATES_DIR = Path(__file__).parent / "templates"
SESSION_COOKIE = "desk_session"
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]

Handler = Callable[[Request, "Desk", Person, FormData | None], Awaitable[Response]]


@dataclass
class Desk:
    """What every page works with: the warehouse, the playbooks, the clock, the login limiter, the templates."""

    wh: Warehouse
    settings: Settings
    playbooks: PlaybookConfig
    clock: Callable[[], datetime]
    limiter: LoginLimiter
    templates: Jinja2Templates = field(repr=False)

    def now(self) -> datetime:
        """The desk's time (naive UTC): audit rows, closing times, today's queue."""
        return self.clock()

    def today(self) -> date:
        """The desk's day."""
        return self.clock().date()

    @property
    def authorities(self) -> dict[str, Authority]:
        """Each playbook's authority block, by playbook name."""
        return {p.name: p.authority for p in self.playbooks.playbooks}

    def render(
        self, request: Request, name: str, person: Person | None, status: int = 200, **context: Any
    ) -> Response:
        """A page with the person, their CSRF token and the session's one-time message."""
        flash = request.session.pop("flash", None)
        ctx = {"person": person, "csrf_token": csrf_token(request), "flash": flash, "error": None, **context}
        return self.templates.TemplateResponse(request, name, ctx, status_code=status)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, form: FormData) -> bool:
    """True when the form's ``csrf_token`` is this session's token."""
    sent, expected = form.get("csrf_token"), request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str) or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def current_person(request: Request, desk: Desk) -> Person | None:
    """The logged-in, still active person of this session, or None."""
    username = request.session.get("user")
    if not isinstance(username, str):
        return None
    person = get_person(desk.wh, username)
    if person is None or not person.active:
        request.session.clear()
        return None
    return person


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a page: login required, CSRF checked on POST, a refused request rendered as a page with its status."""

    async def endpoint(request: Request) -> Response:
        desk: Desk = request.app.state.desk
        person = current_person(request, desk)
        if person is None:
            return RedirectResponse("/login", status_code=303)
        form = None
        if request.method == "POST":
            form = await request.form()
            if not csrf_ok(request, form):
                return forbidden_csrf(request, desk, person)
        try:
            return await handler(request, desk, person, form)
        except DeskError as exc:
            title = {404: "Not found", 403: "Not allowed", 409: "Already done"}.get(exc.status, "Refused")
            return desk.render(request, "error.html.j2", person, exc.status, title=title, message=str(exc))

    return endpoint


def forbidden_csrf(request: Request, desk: Desk, person: Person | None) -> Response:
    """403 for a form without this session's CSRF token."""
    msg = "This form is out of date or did not come from the desk. Reload the page and try again."
    return desk.render(request, "error.html.j2", person, 403, title="Refused", message=msg)


async def login_page(request: Request) -> Response:
    """GET /login: the login form (with the pre-session CSRF token)."""
    desk: Desk = request.app.state.desk
    return desk.render(request, "login.html.j2", current_person(request, desk), username="")


async def login(request: Request) -> Response:
    """POST /login: check the token, the rate limit, then the password; a new session on success."""
    desk: Desk = request.app.state.desk
    form = await request.form()
    if not csrf_ok(request, form):
        return forbidden_csrf(request, desk, None)
    username = str(form.get("username") or "").strip().lower()[:60]
    password = str(form.get("password") or "")[:500]
    client = request.client.host if request.client else "unknown"
    keys = [f"user:{username}", f"client:{client}"]
    if desk.limiter.blocked(keys):
        msg = "Too many failed logins: wait a minute and try again."
        return desk.render(request, "login.html.j2", None, 429, username=username, error=msg)
    person = await run_in_threadpool(authenticate, desk.wh, username, password)
    if person is None:
        desk.limiter.failed(keys)
        msg = "Wrong username or password."
        return desk.render(request, "login.html.j2", None, 401, username=username, error=msg)
    request.session.clear()
    request.session.update({"user": person.username, "csrf": secrets.token_urlsafe(32)})
    return RedirectResponse("/queue", status_code=303)


async def _logout(request: Request, desk: Desk, person: Person, form: FormData | None) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to the response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _templates() -> Jinja2Templates:
    from proactive_ml.desk import views

    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined, trim_blocks=True
    )
    env.filters.update(views.FILTERS)
    return Jinja2Templates(env=env)


def create_app(
    wh: Warehouse,
    settings: Settings,
    *,
    playbooks: PlaybookConfig | None = None,
    clock: Callable[[], datetime] | None = None,
    limiter: LoginLimiter | None = None,
) -> Starlette:
    """The desk on warehouse ``wh`` (kept open by the caller). ``clock``: naive UTC now (a simulation's own day)."""
    from proactive_ml.desk import pages

    desk = Desk(
        wh=wh,
        settings=settings,
        playbooks=playbooks or load_playbooks(settings.playbooks_file or None),
        clock=clock or (lambda: datetime.now(UTC).replace(tzinfo=None)),
        limiter=limiter or LoginLimiter(),
        templates=_templates(),
    )
    routes = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", page(_logout), methods=["POST"]),
        *[Route(path, page(handler), methods=[method]) for method, path, handler in pages.ROUTES],
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(
            SessionMiddleware,
            secret_key=settings.desk_secret.get_secret_value(),
            session_cookie=SESSION_COOKIE,
            max_age=settings.desk_session_hours * 3600,
            same_site="lax",
            https_only=settings.env == "production",
        ),
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.desk = desk
    return app
