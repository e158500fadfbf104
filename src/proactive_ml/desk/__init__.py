"""The desk: web pages where customer-success people work their tasks, within clear authority, and are credited.

:mod:`~proactive_ml.desk.accounts` (people, passwords, login limit), :mod:`~proactive_ml.desk.tasks` (visibility,
changes with their audit rows), :mod:`~proactive_ml.desk.context` (the customer on one page),
:mod:`~proactive_ml.desk.flags` (wrong suggestions), :mod:`~proactive_ml.desk.app` and
:mod:`~proactive_ml.desk.pages` (the web application), :mod:`~proactive_ml.desk.commands` (CLI).
"""
