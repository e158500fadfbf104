"""Which email templates a company uses: its own folder (``PROACTIVE_TEMPLATES_DIR``) over ``templates/email``.

A file found in the company's folder wins, any other comes from the shipped set (Jinja's ``ChoiceLoader``); the
words are merged the same way (:func:`proactive_ml.outreach.content.words`). :func:`check_templates` refuses,
before outreach decides anything, playbooks whose templates cannot be found or compiled.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment

from proactive_ml.errors import UserError
from proactive_ml.outreach.content import DEFAULT_TEMPLATE_DIR, words
from proactive_ml.outreach.playbooks import PlaybookConfig
from proactive_ml.settings import Settings

__all__ = ["DEFAULT_TEMPLATE_DIR", "check_templates", "html_env", "template_folder", "template_problems"]


def template_folder(settings: Settings) -> str:
    """The email template folder the settings name (``templates_dir``), or the shipped one when none is set.

    Raises:
        UserError: the named folder does not exist.
    """
    given = settings.templates_dir.strip()
    if not given:
        return str(DEFAULT_TEMPLATE_DIR)
    path = Path(given).expanduser()
    if not path.is_dir():
        raise UserError(
            f"email template folder {given} not found (PROACTIVE_TEMPLATES_DIR): give a folder that holds the "
            "templates you change; the others come from templates/email"
        )
    return str(path.resolve())


def template_problems(config: PlaybookConfig, template_dir: str) -> list[str]:
    """The templates email playbooks (and their variants) need that cannot be used, one line each.

    Found in neither the folder nor the shipped set, or not valid Jinja (with its line). The shared ``base`` and
    ``_blocks`` files count too.
    """
    env, problems = html_env(template_dir), []
    for pb in config.playbooks:
        if pb.action != "email" or pb.sendgrid_template_id:
            continue
        named = {str(v.template or pb.template) for v in pb.variants if v.template or pb.template}
        for name in sorted(named) + ["base", "_blocks"]:
            for fmt in ("html", "txt"):
                file = f"{name}.{fmt}.j2"
                try:
                    env.get_template(file)
                except TemplateNotFound:
                    problems.append(f"playbook {pb.name}: {file} not found")
                except TemplateSyntaxError as exc:
                    problems.append(f"{file} line {exc.lineno}: {exc.message}")
    return list(dict.fromkeys(problems))  # a shared file's problem once


def check_templates(config: PlaybookConfig, template_dir: str) -> None:
    """Refuse, before anything is decided, playbooks whose email templates cannot be used (all problems, one line)."""
    words(template_dir)  # a words.yaml that does not read is its own one-line error
    problems = template_problems(config, template_dir)
    if problems:
        where = (
            "templates/email"
            if Path(template_dir) == DEFAULT_TEMPLATE_DIR
            else f"{template_dir} over templates/email"
        )
        raise UserError(f"email templates in {where} cannot be used: " + "; ".join(problems))


@lru_cache(maxsize=8)
def html_env(template_dir: str) -> SandboxedEnvironment:
    """The sandboxed Jinja environment for the email templates (autoescape for .html templates).

    A company's folder comes first; a template it does not hold comes from the shipped folder.
    """
    folders = [template_dir]
    if Path(template_dir).resolve() != DEFAULT_TEMPLATE_DIR.resolve():
        folders.append(str(DEFAULT_TEMPLATE_DIR))
    return SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(f) for f in folders]),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2", "htm"), default_for_string=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
