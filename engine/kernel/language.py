"""The languages people use the platform in (menus, SMS)."""

from __future__ import annotations

import enum


class Language(enum.StrEnum):
    ENGLISH = "en"
    NYANJA = "ny"
    BEMBA = "bem"
