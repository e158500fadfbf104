"""What a person may offer a customer on their own, per playbook and role (the ``authority:`` block of a playbook).

The desk shows these limits on every task and on the guidelines page, and refuses an offer above the person's own
limit unless a lead (or an admin) approved it. Declared in ``models/playbooks.yaml`` on ``cs_task`` playbooks::

    authority:
      offers:
        - {name: discount, unit: percent, agent_max: 15, lead_max: 30}
        - {name: priority_support, unit: days, agent_max: 90, lead_max: 180}

``admin_max`` is optional (default: no limit). Pure: parsing and validation only; errors are one line each.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ROLES = ("agent", "lead", "admin")
UNITS = ("percent", "days", "currency", "count")
_OFFER_KEYS = {"name", "unit", "agent_max", "lead_max", "admin_max", "label"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


class AuthorityError(ValueError):
    """An ``authority:`` block is invalid (the message names the offer and the field)."""


@dataclass(frozen=True)
class OfferLimit:
    """One kind of offer and how far each role may go with it alone (``None``: no limit)."""

    name: str
    unit: str
    agent_max: float
    lead_max: float
    admin_max: float | None = None
    label: str = ""

    def limit_for(self, role: str) -> float | None:
        """The most a person of ``role`` may offer without approval (``None``: no limit)."""
        if role == "agent":
            return self.agent_max
        if role == "lead":
            return self.lead_max
        return self.admin_max

    @property
    def title(self) -> str:
        """The words a person reads for this offer."""
        return self.label or self.name.replace("_", " ")


@dataclass(frozen=True)
class Authority:
    """The offers of one playbook."""

    offers: tuple[OfferLimit, ...] = ()

    def get(self, name: str) -> OfferLimit | None:
        """The offer called ``name``, or None."""
        return next((o for o in self.offers if o.name == name), None)


def _number(raw: dict[str, Any], key: str, where: str, required: bool = True) -> float | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise AuthorityError(f"{where}: {key} must be a number >= 0, got {value!r}")
    return float(value)


def _offer(raw: Any, where: str) -> OfferLimit:
    if not isinstance(raw, dict):
        raise AuthorityError(
            f"{where}: an offer is a mapping with name, unit, agent_max, lead_max; got {raw!r}"
        )
    unknown = sorted(set(raw) - _OFFER_KEYS)
    if unknown:
        raise AuthorityError(
            f"{where}: unknown key {unknown[0]!r}; an offer has {', '.join(sorted(_OFFER_KEYS))}"
        )
    name = str(raw.get("name", ""))
    if not _NAME.match(name):
        raise AuthorityError(f"{where}: offer name {name!r} must be a lowercase slug (e.g. discount)")
    where = f"{where} {name}"
    if raw.get("unit") not in UNITS:
        raise AuthorityError(f"{where}: unit must be one of {', '.join(UNITS)}, got {raw.get('unit')!r}")
    agent = _number(raw, "agent_max", where) or 0.0
    lead = _number(raw, "lead_max", where) or 0.0
    admin = _number(raw, "admin_max", where, required=False)
    if lead < agent:
        raise AuthorityError(f"{where}: lead_max ({lead:g}) is below agent_max ({agent:g})")
    if admin is not None and admin < lead:
        raise AuthorityError(f"{where}: admin_max ({admin:g}) is below lead_max ({lead:g})")
    return OfferLimit(name, str(raw["unit"]), agent, lead, admin, str(raw.get("label") or ""))


def parse_authority(raw: Any, where: str) -> Authority:
    """Validate one playbook's ``authority:`` block (``where``: the playbook's name, for the messages)."""
    if raw is None:
        return Authority()
    if not isinstance(raw, dict) or set(raw) - {"offers"}:
        raise AuthorityError(f"{where}: authority must be a mapping with one key, offers (a list)")
    items = raw.get("offers") or []
    if not isinstance(items, list):
        raise AuthorityError(f"{where}: authority.offers must be a list of offers")
    offers = tuple(_offer(o, f"{where}: authority.offers[{i}]") for i, o in enumerate(items))
    names = [o.name for o in offers]
    if len(set(names)) != len(names):
        raise AuthorityError(f"{where}: authority offer names must be unique")
    return Authority(offers)
