"""How a setting is declared: its variable, default and doc in one call, and how it is written.

A leaf of the settings package: the model declares its fields with these, the
environment source and the README table read them back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_core import CoreSchema, core_schema

from engine.kernel.errors import InvalidAmount
from engine.kernel.units import NGWEE_PER_KWACHA, WH_PER_KWH, parse_energy, parse_money


def setting(name: str, default: Any, doc: str, **constraints: Any) -> Any:
    """One setting: the environment variable it is read from, its default and a one-line doc.

    ``doc`` is the setting's row in the README's table (``enerlectra settings``),
    so it is written for an operator. ``repr=False`` marks a secret: kept out of
    reprs, error messages and the table.
    """
    return Field(default, validation_alias=name, description=doc, **constraints)


@dataclass(frozen=True, slots=True)
class Written:
    """How a setting is written in the environment, when that is not its value's own form.

    Text is parsed by ``parse``; any other value (a hand-built ``Settings(...)``)
    is taken as it is. ``show`` writes a value back the same way (the table's defaults).
    """

    parse: Callable[[str], object]
    show: Callable[[Any], str]

    def __get_pydantic_core_schema__(self, source: Any, handler: Callable[[Any], CoreSchema]) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self._from_text, handler(source))

    def _from_text(self, value: object) -> object:
        return self.parse(value) if isinstance(value, str) else value


def _kwacha(text: str) -> int:
    try:
        return parse_money(text, allow_zero=True)
    except InvalidAmount as exc:
        raise ValueError(f"{exc.detail} (write Kwacha, e.g. 1.20)") from None


def _kwh(text: str) -> int:
    try:
        return parse_energy(text)
    except InvalidAmount as exc:
        raise ValueError(f"{exc.detail} (write kWh, e.g. 0.1)") from None


def _show_kwacha(ngwee: int) -> str:
    return f"{ngwee // NGWEE_PER_KWACHA}.{ngwee % NGWEE_PER_KWACHA:02d}"


def _show_kwh(wh: int) -> str:
    whole, rest = divmod(wh, WH_PER_KWH)
    return f"{whole}.{rest:03d}".rstrip("0").rstrip(".")


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _join(values: tuple[object, ...]) -> str:
    return ",".join(str(v) for v in values)


KWACHA = Written(_kwacha, _show_kwacha)  # money: written in Kwacha (5.00), held in ngwee (500)
KWH = Written(_kwh, _show_kwh)  # energy: written in kWh (0.1), held in Wh (100)
COMMA_LIST = Written(_split, _join)  # a list: written a,b,c (blanks around commas ignored)


def env_name(name: str, field: FieldInfo) -> str:
    """The variable a field is read from (``name`` if it was declared without ``setting``)."""
    return field.validation_alias if isinstance(field.validation_alias, str) else name


def is_secret(field: FieldInfo) -> bool:
    return field.repr is False


def written(field: FieldInfo) -> Written | None:
    return next((m for m in field.metadata if isinstance(m, Written)), None)
