"""Message catalogs: ``menus/locales/<lang>.yaml``, flat ``key: text`` maps.

Placeholders are ``{name}`` or ``{name:kind}``; the kind says how an integer
parameter is shown, through the engine's units module, so a screen and an SMS
always write money and energy the same way:

    money   ngwee        -> K12.50
    energy  Wh           -> 3.5 kWh
    price   ngwee/kWh    -> K1.20/kWh
    ref     reference    -> K7M3Q-9XP2A
    phone   E.164        -> 0977123456
    kg      grams        -> 1.6 kg
    tenths  tenths       -> 1.5
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.carbon import format_kg, format_tenths
from engine.phones import local_format
from engine.references import format_reference
from engine.units import format_energy, format_money, format_price
from menus import LOCALES_DIR

LANGUAGES = ("en", "ny", "bem")
DEFAULT_LANGUAGE = "en"

FORMATTERS: dict[str, Callable[[Any], str]] = {
    "money": lambda v: format_money(int(v)),
    "energy": lambda v: format_energy(int(v)),
    "price": lambda v: format_price(int(v)),
    "ref": lambda v: format_reference(str(v)),
    "phone": lambda v: local_format(str(v)),
    "kg": lambda v: format_kg(int(v)),
    "tenths": lambda v: format_tenths(int(v)),
}
_FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")


class CatalogError(ValueError):
    pass


def placeholders(text: str) -> list[tuple[str, str | None]]:
    """``"{a} {b:money}"`` -> ``[("a", None), ("b", "money")]``."""
    found = []
    for _, name, spec, _ in string.Formatter().parse(text):
        if name is not None:
            found.append((name, spec or None))
    return found


@dataclass(frozen=True)
class Catalogs:
    messages: Mapping[str, Mapping[str, str]]  # language -> key -> text

    @classmethod
    def load(cls, folder: Path | str | None = None) -> Catalogs:
        base = Path(folder) if folder is not None else LOCALES_DIR
        messages: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            path = base / f"{lang}.yaml"
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
                raise CatalogError(f"{path}: a catalog is a flat map of key: text")
            for key, text in data.items():
                for name, kind in placeholders(text):
                    if not _FIELD.match(name) or (kind is not None and kind not in FORMATTERS):
                        raise CatalogError(f"{path}: {key}: bad placeholder {{{name}:{kind}}}")
            messages[lang] = {str(k): v for k, v in data.items()}
        return cls(messages)

    def has(self, key: str, language: str = DEFAULT_LANGUAGE) -> bool:
        return key in self.messages.get(language, {})

    def text(self, language: str, key: str) -> str:
        table = self.messages.get(language) or self.messages[DEFAULT_LANGUAGE]
        if key in table:
            return table[key]
        return self.messages[DEFAULT_LANGUAGE][key]

    def render(self, language: str, key: str, params: Mapping[str, Any] | None = None) -> str:
        """The text for ``key`` in ``language`` (English if missing) with parameters filled in."""
        text = self.text(language, key)
        values = params or {}
        out = []
        for literal, name, spec, _ in string.Formatter().parse(text):
            out.append(literal)
            if name is None:
                continue
            value = values.get(name, "")
            out.append(FORMATTERS[spec](value) if spec and value != "" else str(value))
        return "".join(out)
