"""Outreach: playbooks, contact policy with holdouts, templates, send ledger and delivery."""
