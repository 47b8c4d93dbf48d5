"""Catalog texts chosen by a number: CLDR plural categories per language, and exact values such as 0."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from ussd_server.i18n import (
    LANGUAGES,
    PLURAL_RULES,
    CatalogError,
    Catalogs,
    placeholders,
    plural_categories,
    plural_category,
    variants,
)

TRIES = {"count": "n", "one": "{n} try left.", "other": "{n} tries left."}


def load(tmp_path: Path, table: Mapping[str, object], **per_lang: Mapping[str, object]) -> Catalogs:
    """The same catalog in every language, with per-language keys on top."""
    for lang in LANGUAGES:
        text = yaml.safe_dump({**table, **per_lang.get(lang, {})}, allow_unicode=True, sort_keys=False)
        (tmp_path / f"{lang}.yaml").write_text(text, encoding="utf-8")
    return Catalogs.load(tmp_path)


def refused(tmp_path: Path, value: object, lang: str = "en") -> str:
    """The load error for key ``x.key`` holding ``value`` in ``lang``'s catalog."""
    with pytest.raises(CatalogError) as raised:
        load(tmp_path, {"x.key": "fine"}, **{lang: {"x.key": value}})
    return str(raised.value)


# --- the rules -------------------------------------------------------------------------


def test_every_language_has_cldr_plural_rules() -> None:
    assert set(LANGUAGES) <= set(PLURAL_RULES)
    for lang in LANGUAGES:
        assert plural_categories(lang) == ("one", "other"), lang


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("n", "category"),
    [(0, "other"), (1, "one"), (2, "other"), (11, "other"), (21, "other"), (101, "other"), (1_000_000, "other")],
)
def test_plural_category(lang: str, n: int, category: str) -> None:
    assert plural_category(lang, n) == category


# --- choosing a text -------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(
    ("n", "shown"),
    [(0, "0 tries left."), (1, "1 try left."), (2, "2 tries left."), (1_000_000, "1000000 tries left.")],
)
def test_render_chooses_the_plural_form(tmp_path: Path, lang: str, n: int, shown: str) -> None:
    catalogs = load(tmp_path, {"x.tries": TRIES})
    assert catalogs.render(lang, "x.tries", {"n": n}) == shown


def test_an_exact_value_beats_the_category(tmp_path: Path) -> None:
    # Quoted or not, a number is an exact value.
    last: dict[object, str] = {"count": "n", "1": "Last try!", 0: "No tries left.", "one": "{n} try left."}
    last["other"] = TRIES["other"]
    catalogs = load(tmp_path, {"x.tries": last})
    for lang in LANGUAGES:
        assert catalogs.render(lang, "x.tries", {"n": 1}) == "Last try!"
        assert catalogs.render(lang, "x.tries", {"n": 0}) == "No tries left."
        assert catalogs.render(lang, "x.tries", {"n": 2}) == "2 tries left."


def test_each_language_chooses_by_its_own_rules_and_texts(tmp_path: Path) -> None:
    catalogs = load(
        tmp_path,
        {"x.tries": TRIES},
        ny={"x.tries": {"count": "n", "one": "Mwayi umodzi.", "other": "Mwayi {n}."}},
    )
    assert catalogs.render("ny", "x.tries", {"n": 1}) == "Mwayi umodzi."
    assert catalogs.render("ny", "x.tries", {"n": 3}) == "Mwayi 3."
    assert catalogs.render("en", "x.tries", {"n": 1}) == "1 try left."


def test_without_a_whole_number_the_other_text_is_used(tmp_path: Path) -> None:
    catalogs = load(tmp_path, {"x.tries": TRIES})
    assert catalogs.render("en", "x.tries", {"n": "1"}) == "1 try left.", "digit strings from stored rows count"
    assert catalogs.render("en", "x.tries", {}) == " tries left."
    assert catalogs.text("en", "x.tries") == "{n} tries left."
    assert catalogs.text("en", "x.tries", {"n": 1}) == "{n} try left."


def test_has_text_and_variants_know_both_shapes(tmp_path: Path) -> None:
    catalogs = load(tmp_path, {"x.tries": TRIES, "x.plain": "Hello"})
    assert catalogs.has("x.tries", "bem")
    assert catalogs.has("x.plain", "bem")
    assert catalogs.variants("en", "x.plain") == {"other": "Hello"}
    assert catalogs.variants("en", "x.tries") == {"one": "{n} try left.", "other": "{n} tries left."}


# --- refused at load, naming file and key ----------------------------------------------


def test_variants_without_other_are_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, {"count": "n", "one": "1 try left.", "0": "None left."}, lang="bem")
    assert "bem.yaml: x.key: variants need an 'other' text" in message, message


def test_a_category_the_language_does_not_have_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, {**TRIES, "few": "{n} tries left."}, lang="ny")
    assert "ny.yaml: x.key: few: ny has no plural category 'few' (it has one, other)" in message, message
    message = refused(tmp_path, {**TRIES, "zero": "None left."})
    assert "en.yaml: x.key: zero: en has no plural category 'zero'" in message, message
    assert 'write it as a number, e.g. "0"' in message, message


def test_an_unknown_variant_name_is_refused(tmp_path: Path) -> None:
    message = refused(tmp_path, {**TRIES, "plural": "x"})
    assert "en.yaml: x.key: plural: unknown variant 'plural'" in message, message


@pytest.mark.parametrize("count", [None, "{n}", "n:money", "N", ["n"]])
def test_count_must_be_a_bare_parameter_name(tmp_path: Path, count: object) -> None:
    value: dict[str, object] = {**TRIES, "count": count}
    if count is None:
        del value["count"]
    message = refused(tmp_path, value)
    assert "en.yaml: x.key: variants need 'count:'" in message, message


def test_every_variant_is_checked_like_a_text(tmp_path: Path) -> None:
    message = refused(tmp_path, {**TRIES, "one": "{n:dollars} try left."})
    assert "en.yaml: x.key: one: bad placeholder {n:dollars}" in message, message
    message = refused(tmp_path, {**TRIES, "0": 12})
    assert "en.yaml: x.key: 0: expected a text" in message, message


# --- the shipped catalogs --------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Catalogs:
    return Catalogs.load()


def test_one_wrong_pin_left_is_singular(shipped: Catalogs) -> None:
    assert shipped.render("en", "err.wrong_pin", {"attempts_left": 1}) == "Wrong PIN. 1 try left."
    assert shipped.render("en", "err.wrong_pin", {"attempts_left": 2}) == "Wrong PIN. 2 tries left."
    for lang in LANGUAGES:
        one = shipped.render(lang, "err.wrong_pin", {"attempts_left": 1})
        two = shipped.render(lang, "err.wrong_pin", {"attempts_left": 2})
        assert one != two.replace("2", "1"), f"{lang} has no singular: {one!r}"


SAMPLE: dict[str | None, Any] = {
    "money": 150,
    "energy": 1500,
    "price": 120,
    "ref": "K7M3Q9XP2A",
    "phone": "+260977123456",
    "kg": 1600,
    "tenths": 15,
    None: "Mwila",
}


def _params(texts: Mapping[str, str], fee: int) -> dict[str, Any]:
    kinds = {name: kind for text in texts.values() for name, kind in placeholders(text)}
    return {name: fee if name == "fee" else SAMPLE[kind] for name, kind in kinds.items()}


def test_no_screen_or_sms_shows_a_zero_fee(shipped: Catalogs) -> None:
    shows_fee = [
        (lang, key)
        for lang, table in shipped.messages.items()
        for key, message in table.items()
        if any("{fee" in text for text in variants(message).values())
    ]
    assert {key for _, key in shows_fee} >= {"offer.view", "sms.energy_bought"}
    for lang, key in shows_fee:
        texts = shipped.variants(lang, key)
        free = shipped.render(lang, key, _params(texts, fee=0))
        assert "fee" not in free.lower(), f"{lang} {key}: {free}"
        assert "K0.00" not in free, f"{lang} {key}: {free}"
        paid = shipped.render(lang, key, _params(texts, fee=7))
        assert "fee K0.07" in paid, f"{lang} {key}: {paid}"
