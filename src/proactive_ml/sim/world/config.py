"""Parameters of the simulated customer world, and the fixed tables it draws from.

Every rate is per customer and per day unless named otherwise. The defaults give a SaaS base with roughly 3 %
monthly churn, ~0.55 usage rows per customer and day (1M customers -> ~50M rows in 90 days), a ticket every
~7 months per customer and an NPS answer every ~4 months.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

RESPONSE_TYPES = ("sure_thing", "persuadable", "lost_cause", "sleeping_dog")
"""Hidden reaction to a proactive email (index = code used in the state arrays)."""

SURE_THING, PERSUADABLE, LOST_CAUSE, SLEEPING_DOG = range(4)

# (country, IANA time zone, standard UTC offset in hours, weight)
LOCATIONS: tuple[tuple[str, str, float, float], ...] = (
    ("US", "America/New_York", -5, 0.12),
    ("US", "America/Chicago", -6, 0.07),
    ("US", "America/Denver", -7, 0.03),
    ("US", "America/Los_Angeles", -8, 0.08),
    ("CA", "America/Toronto", -5, 0.04),
    ("CA", "America/Vancouver", -8, 0.02),
    ("MX", "America/Mexico_City", -6, 0.02),
    ("BR", "America/Sao_Paulo", -3, 0.04),
    ("GB", "Europe/London", 0, 0.09),
    ("IE", "Europe/Dublin", 0, 0.02),
    ("DE", "Europe/Berlin", 1, 0.09),
    ("FR", "Europe/Paris", 1, 0.07),
    ("NL", "Europe/Amsterdam", 1, 0.04),
    ("ES", "Europe/Madrid", 1, 0.04),
    ("IT", "Europe/Rome", 1, 0.03),
    ("SE", "Europe/Stockholm", 1, 0.02),
    ("PL", "Europe/Warsaw", 1, 0.02),
    ("ZA", "Africa/Johannesburg", 2, 0.01),
    ("IN", "Asia/Kolkata", 5.5, 0.05),
    ("SG", "Asia/Singapore", 8, 0.02),
    ("JP", "Asia/Tokyo", 9, 0.03),
    ("AU", "Australia/Sydney", 10, 0.04),
    ("NZ", "Pacific/Auckland", 12, 0.01),
)

# Language of messages per country (BCP 47); customers of other countries read English.
COUNTRY_LOCALES = {
    "US": "en-US",
    "CA": "en-CA",
    "MX": "es-MX",
    "BR": "pt-BR",
    "GB": "en-GB",
    "IE": "en-IE",
    "DE": "de-DE",
    "FR": "fr-FR",
    "NL": "nl-NL",
    "ES": "es-ES",
    "IT": "it-IT",
    "SE": "sv-SE",
    "PL": "pl-PL",
}
DEFAULT_LOCALE = "en"

# Plan mix per response type (rows follow RESPONSE_TYPES, columns follow contract.PLANS).
PLAN_MIX_BY_TYPE = (
    (0.30, 0.33, 0.27, 0.10),  # sure_thing
    (0.18, 0.37, 0.33, 0.12),  # persuadable
    (0.45, 0.35, 0.15, 0.05),  # lost_cause
    (0.55, 0.40, 0.05, 0.00),  # sleeping_dog: dormant customers on cheap plans
)
PLAN_BASE_PRICE = (0.0, 29.0, 99.0, 900.0)
PLAN_SEAT_SCALE = (1.0, 1.0, 1.6, 4.0)  # usage volume multiplier
PLAN_HAZARD = (0.35, 0.0, -0.2, -0.6)  # log-hazard offset per plan

# Per feature: (popularity offset on an active day, mean extra quantity)
FEATURE_PARAMS = (
    (3.0, 2.0),  # login
    (1.2, 6.0),  # dashboard_view
    (-0.6, 1.5),  # report_export
    (-1.4, 40.0),  # api_call
    (-2.8, 0.5),  # invite_user
    (-1.3, 8.0),  # integration_sync
    (-2.4, 1.0),  # alert_config
    (0.0, 4.0),  # search
    (-0.9, 3.0),  # comment
    (-1.6, 1.5),  # file_upload
)


@dataclass(frozen=True)
class WorldConfig:
    """Everything that shapes a simulated world; same config and seed, same world."""

    n_customers: int = 2000
    start: date = date(2026, 1, 1)
    seed: int = 42
    # mix of hidden response types (sure_thing, persuadable, lost_cause, sleeping_dog)
    type_mix: tuple[float, float, float, float] = (0.42, 0.25, 0.15, 0.18)
    signup_history_days: int = 730
    signup_rate: float = 0.0008  # new customers per existing-base customer and day
    marketing_consent_rate: float = 0.85
    # engagement dynamics (latent, roughly standard normal)
    engagement_reversion: float = 0.06
    engagement_noise: float = 0.12
    decline_start_rate: float = 0.003
    decline_stop_rate: float = 0.025
    decline_speed: float = 0.035
    burn_in_days: int = 60
    # usage
    usage_activity: float = 1.0  # scales the odds of an active day
    # support and surveys
    ticket_rate: float = 0.005
    nps_rate: float = 1 / 120
    csat_after_ticket: float = 0.35
    comment_rate: float = 0.6
    # churn
    monthly_churn: float = 0.027  # calibrates the baseline hazard on the initial base
    # email behaviour
    bounce_rate: float = 0.01  # share of addresses that hard-bounce
    open_rate: float = 0.40
    click_given_open: float = 0.20
    unsubscribe_rate: float = 0.005
    spam_rate: float = 0.0005
    reply_rate: float = 0.03
    rating_rate: float = 0.10
    effect_days: int = 30
    # hazard multiplier while an email's effect lasts, per response type
    effect_multipliers: tuple[float, float, float, float] = (0.9, 0.15, 1.0, 3.0)
