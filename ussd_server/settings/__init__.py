"""The one place that reads the environment.

Every setting is declared once, in ``server.py``, ``business.py``, ``markets.py``
or ``payments.py``, and joined into ``Settings`` (pydantic-settings) in
``model.py``: its variable, type, default and a one-line doc, which is also its
row in the README's table (``enerlectra settings`` prints it). Every setting has a safe
default for development except the secrets, which production refuses to run
without. Money and energy settings are written the way people write them
(``STARTING_CREDIT=5.00`` Kwacha) and held as integers (ngwee, Wh).
"""

from __future__ import annotations

from ussd_server.settings.business import DEV_PEPPER
from ussd_server.settings.model import MIN_PRODUCTION_SECRET_CHARS, Settings, SettingsError, is_loopback
from ussd_server.settings.table import markdown_table


def settings_table() -> str:
    """Every setting as a Markdown table (variable, default, meaning): the README's Configuration table."""
    return markdown_table(Settings)


__all__ = ["DEV_PEPPER", "MIN_PRODUCTION_SECRET_CHARS", "Settings", "SettingsError", "is_loopback", "settings_table"]
