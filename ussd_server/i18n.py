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
    network provider     -> MTN (a mobile-money provider's stored name, as its brand is written)

A key may instead hold variants chosen by the value of one integer parameter
(ICU MessageFormat's ``plural``, with its ``=0`` written ``"0"``)::

    err.wrong_pin:
      count: attempts_left          # the parameter that chooses
      one: "Wrong PIN. 1 try left."
      other: "Wrong PIN. {attempts_left} tries left."
    offer.view:
      count: fee
      "0": "... for {cost:money}."  # an exact value wins over a category
      other: "... for {cost:money}, fee {fee:money}."

Categories are the language's CLDR plural categories (:data:`PLURAL_RULES`);
``other`` is always required and is used when the parameter is missing.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.energy.carbon import format_kg, format_tenths
from engine.kernel.phones import local_format
from engine.kernel.references import format_reference
from engine.kernel.units import format_energy, format_money, format_price
from menus import LOCALES_DIR

# libyaml's safe loader where PyYAML has it (plain data only, as yaml.safe_load): start-up parses every catalog.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

LANGUAGES = ("en", "ny", "bem")
DEFAULT_LANGUAGE = "en"

# Mobile-money providers by their stored name (engine.payments.model.Provider): brands, the same in every language.
NETWORKS = {"mtn": "MTN", "airtel": "Airtel", "zamtel": "Zamtel"}
FORMATTERS: dict[str, Callable[[Any], str]] = {
    "money": lambda v: format_money(int(v)),
    "energy": lambda v: format_energy(int(v)),
    "price": lambda v: format_price(int(v)),
    "ref": lambda v: format_reference(str(v)),
    "phone": lambda v: local_format(str(v)),
    "kg": lambda v: format_kg(int(v)),
    "tenths": lambda v: format_tenths(int(v)),
    "network": lambda v: NETWORKS.get(str(v), str(v)),
}
_FIELD = re.compile(r"^[a-z_][a-z0-9_]*$")
_EXACT = re.compile(r"^-?[0-9]+$")

# CLDR cardinal plural rules for whole numbers, from unicode-org/cldr
# common/supplemental/plurals.xml (checked against commit 004469dc):
#   en        one: i = 1 and v = 0   (v = 0, no visible decimals, holds for every integer)
#   ny, bem   one: n = 1
#   all three other: everything else, 0 included
# An entry lists the language's categories before ``other``, in CLDR order, each
# with its test on the absolute value; the first that holds wins. A language
# with more categories is one entry, e.g. Polish (for integers, "many" is the rest):
#   "pl": (("one", lambda n: n == 1),
#          ("few", lambda n: n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14)),
#          ("many", lambda n: True)),
PluralRule = tuple[tuple[str, Callable[[int], bool]], ...]
PLURAL_RULES: dict[str, PluralRule] = {
    "en": (("one", lambda n: n == 1),),
    "ny": (("one", lambda n: n == 1),),
    "bem": (("one", lambda n: n == 1),),
}
CLDR_CATEGORIES = ("zero", "one", "two", "few", "many", "other")
COUNT = "count"  # the key of a variant map that names the choosing parameter


def plural_categories(language: str) -> tuple[str, ...]:
    """The plural categories ``language`` needs, ``other`` last."""
    return (*(name for name, _ in PLURAL_RULES[language]), "other")


def plural_category(language: str, n: int) -> str:
    """The CLDR plural category of the whole number ``n`` in ``language``."""
    n = abs(n)
    for name, holds in PLURAL_RULES[language]:
        if holds(n):
            return name
    return "other"


class CatalogError(ValueError):
    pass


def placeholders(text: str) -> list[tuple[str, str | None]]:
    """``"{a} {b:money}"`` -> ``[("a", None), ("b", "money")]``."""
    found = []
    for _, name, spec, _ in string.Formatter().parse(text):
        if name is not None:
            found.append((name, spec or None))
    return found


def _whole(value: Any) -> int | None:
    """``value`` as a whole number, or None: params come as ints, or as digit strings from stored rows."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _EXACT.match(value):
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class Variants:
    """Texts of one key in one language, chosen by the value of the integer parameter ``count``."""

    language: str
    count: str
    exact: Mapping[int, str]  # a text for one value; wins over the categories
    forms: Mapping[str, str]  # plural category -> text; always holds "other"

    def pick(self, params: Mapping[str, Any] | None) -> str:
        n = _whole(params.get(self.count)) if params else None
        if n is None:
            # No value to choose by (a caller that only wants the wording): the general text.
            return self.forms["other"]
        if n in self.exact:
            return self.exact[n]
        return self.forms.get(plural_category(self.language, n), self.forms["other"])

    def named(self) -> dict[str, str]:
        """Every text by its name as written in the catalog: ``"0"``, ``"one"``, ``"other"``."""
        return {**{str(n): t for n, t in self.exact.items()}, **self.forms}


Message = str | Variants


def variants(message: Message) -> dict[str, str]:
    """Every text ``message`` can show, by variant name; a plain text is its own ``other``."""
    return {"other": message} if isinstance(message, str) else message.named()


def _check_text(where: str, text: object) -> str:
    if not isinstance(text, str):
        raise CatalogError(f"{where}: expected a text in quotes, got {text!r}")
    for name, kind in placeholders(text):
        if not _FIELD.match(name) or (kind is not None and kind not in FORMATTERS):
            raise CatalogError(f"{where}: bad placeholder {{{name}:{kind}}}")
    return text


def _parse(where: str, language: str, value: object) -> Message:
    """One catalog value: a text, or a map of variants (see the module docstring)."""
    if not isinstance(value, dict):
        return _check_text(where, value)
    count = value.get(COUNT)
    if not isinstance(count, str) or not _FIELD.match(count):
        raise CatalogError(
            f"{where}: variants need '{COUNT}:' naming the integer parameter that chooses, "
            f"a bare name like attempts_left (got {count!r})"
        )
    categories = plural_categories(language)
    exact: dict[int, str] = {}
    forms: dict[str, str] = {}
    for name, text in value.items():
        if name == COUNT:
            continue
        # YAML reads an unquoted 0: as an int and "0": as a string; both are the exact value 0.
        n = None if isinstance(name, bool) else _whole(name)
        label = f"{where}: {name}"
        if n is not None:
            if n in exact:
                raise CatalogError(f"{label}: the value {n} is given twice")
            exact[n] = _check_text(label, text)
        elif name in categories:
            forms[name] = _check_text(label, text)
        elif name in CLDR_CATEGORIES:
            raise CatalogError(
                f"{label}: {language} has no plural category {name!r} (it has {', '.join(categories)}); "
                f'for one exact value write it as a number, e.g. "0":'
            )
        else:
            raise CatalogError(
                f'{label}: unknown variant {name!r}: use {", ".join(categories)} or an exact value like "0"'
            )
    if "other" not in forms:
        raise CatalogError(f"{where}: variants need an 'other' text, used for every value without its own")
    return Variants(language, count, exact, forms)


@functools.lru_cache(maxsize=4096)
def _template(text: str) -> tuple[tuple[str, str | None, str | None], ...]:
    """A catalog text as string.Formatter parses it (literal, field, format spec): once per text, not per render."""
    return tuple((literal, name, spec) for literal, name, spec, _ in string.Formatter().parse(text))


@dataclass(frozen=True)
class Catalogs:
    messages: Mapping[str, Mapping[str, Message]]  # language -> key -> text or variants

    @classmethod
    def load(cls, folder: Path | str | None = None) -> Catalogs:
        base = Path(folder) if folder is not None else LOCALES_DIR
        messages: dict[str, dict[str, Message]] = {}
        for lang in LANGUAGES:
            path = base / f"{lang}.yaml"
            if lang not in PLURAL_RULES:
                raise CatalogError(f"{path}: no plural rules for {lang!r}: add its CLDR entry to PLURAL_RULES")
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER) or {}
            if not isinstance(data, dict):
                raise CatalogError(f"{path}: a catalog is a flat map of key: text (or key: variants)")
            messages[lang] = {str(k): _parse(f"{path}: {k}", lang, v) for k, v in data.items()}
        return cls(messages)

    def has(self, key: str, language: str = DEFAULT_LANGUAGE) -> bool:
        return key in self.messages.get(language, {})

    def message(self, language: str, key: str) -> Message:
        """The text or variants for ``key`` in ``language`` (English if missing)."""
        table = self.messages.get(language) or self.messages[DEFAULT_LANGUAGE]
        if key in table:
            return table[key]
        return self.messages[DEFAULT_LANGUAGE][key]

    def text(self, language: str, key: str, params: Mapping[str, Any] | None = None) -> str:
        """The unfilled text for ``key``: of variants, the one ``params`` choose (``other`` without them)."""
        message = self.message(language, key)
        return message if isinstance(message, str) else message.pick(params)

    def variants(self, language: str, key: str) -> dict[str, str]:
        """Every text ``key`` can show in ``language``, by variant name (a plain text is ``other``)."""
        return variants(self.message(language, key))

    def render(self, language: str, key: str, params: Mapping[str, Any] | None = None) -> str:
        """The text for ``key`` in ``language`` (English if missing) with parameters filled in."""
        text = self.text(language, key, params)
        values = params or {}
        out = []
        for literal, name, spec in _template(text):
            out.append(literal)
            if name is None:
                continue
            value = values.get(name, "")
            out.append(FORMATTERS[spec](value) if spec and value != "" else str(value))
        return "".join(out)
