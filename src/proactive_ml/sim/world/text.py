"""Synthetic text of the world: names, survey comments and email replies.

Comments are drawn from templates by tone and theme, so the negative ones carry recognisable themes (billing,
bugs, slowness, support wait, ...) that a report can find again.
"""

from __future__ import annotations

FIRST_NAMES = (
    "Ada",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hugo",
    "Ines",
    "Jonas",
    "Kira",
    "Liam",
    "Maya",
    "Noah",
    "Olga",
    "Pablo",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
    "Aiko",
    "Bruno",
    "Carla",
    "Dmitri",
    "Emma",
    "Felix",
    "Gita",
    "Hana",
    "Ivan",
    "Jade",
    "Kenji",
    "Lena",
)
LAST_NAMES = (
    "Novak",
    "Smith",
    "Garcia",
    "Muller",
    "Rossi",
    "Kowalski",
    "Tanaka",
    "Silva",
    "Dubois",
    "Jansen",
    "Berg",
    "Okafor",
    "Patel",
    "Kim",
    "Nguyen",
    "Cohen",
    "Larsen",
    "Moreau",
    "Fischer",
    "Brown",
    "Lopez",
    "Sato",
    "Ivanova",
    "Costa",
    "Murphy",
    "Haddad",
    "Weber",
    "Olsen",
    "Reyes",
    "Chen",
)

THEMES = ("billing", "bugs", "usability", "integrations", "slowness", "account", "support wait")
"""Negative-comment themes; THEMES[k] is the theme of contract.TICKET_CATEGORIES[k] for k < 6."""

NEGATIVE_COMMENTS: dict[str, tuple[str, ...]] = {
    "billing": (
        "We were charged twice this month and nobody explained why.",
        "The invoice is confusing and the price went up without notice.",
        "Billing is a mess, I still wait for a refund.",
        "Too expensive for what we actually use.",
    ),
    "bugs": (
        "The export keeps failing with an error.",
        "Too many bugs lately, the dashboard shows wrong numbers.",
        "Reports break every other week after your updates.",
        "Search is broken half the time.",
    ),
    "slowness": (
        "The app is painfully slow, dashboards take forever to load.",
        "Everything got slower since the last release.",
        "Loading reports times out, performance is terrible.",
    ),
    "integrations": (
        "The Salesforce sync drops records.",
        "Integration sync fails silently and we lose data.",
        "Your API integration is unreliable.",
    ),
    "usability": (
        "Hard to find anything, the new navigation is confusing.",
        "Setup was confusing and the docs did not help.",
        "Too complicated for my team.",
    ),
    "account": (
        "I get logged out all the time and cannot reset my password.",
        "Managing users and permissions is painful.",
        "Login problems again this week.",
    ),
    "support wait": (
        "Support took a week to answer my ticket.",
        "Still waiting for support to get back to me.",
        "Support wait times are unacceptable.",
        "Nobody answered my ticket for days.",
    ),
}
NEUTRAL_COMMENTS = (
    "It does the job.",
    "Fine overall, a few rough edges.",
    "Okay, but the reports could be better.",
    "Decent product, support could be faster.",
    "Works, though I miss some features.",
    "",
)
POSITIVE_COMMENTS = (
    "Love the dashboards, saves us hours every week.",
    "Great product, support was quick and helpful.",
    "Easy to use and reliable.",
    "The API is excellent and well documented.",
    "Our whole team relies on it daily.",
    "Exactly what we needed, thank you!",
)

REPLY_OUT_OF_OFFICE = (
    "Out of office: I am away until next Monday with limited access to email. For urgent matters contact my colleague.",
    "Automatic reply: I am currently out of the office and will reply when I am back.",
)
REPLY_STOP = (
    "Please stop emailing me.",
    "Unsubscribe",
    "Remove me from your mailing list, please unsubscribe me.",
    "Stop sending these emails.",
)
REPLY_THANKS = (
    "Thanks, this was helpful!",
    "Thank you for reaching out, that solved it.",
    "Great tip, thanks a lot.",
    "Appreciate the heads-up, thanks.",
)
REPLY_QUESTION = (
    "How do I export the report to CSV?",
    "Can someone call me about our plan? We are not sure it still fits.",
    "Is there a way to add more users without upgrading?",
    "My integration sync still fails, can you help?",
    "Why did my invoice go up this month?",
)
REPLY_KINDS = ("out_of_office", "stop", "thanks", "question")
REPLY_TEXTS = (REPLY_OUT_OF_OFFICE, REPLY_STOP, REPLY_THANKS, REPLY_QUESTION)


# The company's people: customer-success owners of the larger accounts and the support agents on tickets.
CS_OWNERS = (
    "Maria Santos",
    "David Okafor",
    "Lena Fischer",
    "Tom Becker",
    "Aisha Khan",
    "Marco Rossi",
    "Julia Novak",
    "Sam Taylor",
)
SUPPORT_AGENTS = (
    "Priya Raman",
    "Jonas Berg",
    "Chloe Martin",
    "Ben Carter",
    "Yuki Sato",
    "Omar Haddad",
)
# Ticket subjects per contract ticket category (the customer's own words in a support tool).
TICKET_SUBJECTS = {
    "billing": ("Question about my invoice", "Charged twice this month", "How do I change my payment card?"),
    "bug": ("Export button does nothing", "Error when saving a report", "Dashboard shows the wrong totals"),
    "how_to": ("How do I invite my team?", "Setting up automated reports", "Where do I find the audit log?"),
    "integration": ("Slack notifications stopped", "CRM sync is failing", "API returns 401 since yesterday"),
    "performance": ("Pages load very slowly", "Reports time out", "Search takes minutes"),
    "account": ("Change the account owner", "Reset two-factor login", "Update our company details"),
}
