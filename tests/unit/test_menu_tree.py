"""The menu checker names the file and screen of every mistake, before anything starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from ussd_server.i18n import Catalogs
from ussd_server.menu.actions import registry
from ussd_server.menu.tree import MenuError, load_tree, mermaid

GOOD = {
    "tree": "t",
    "start": "start",
    "home": "home",
    "screens": {
        "start": {"kind": "router", "routes": [{"if": "registered", "to": "home"}, {"to": "home"}]},
        "home": {"kind": "menu", "text": "home.title", "options": [{"label": "home.balance", "to": "wallet"}]},
        "wallet": {"kind": "end", "text": "wallet.statement"},
    },
}
TEXTS = {"home.title": "Hello", "home.balance": "Balance", "wallet.statement": "Statement"}
RUNTIME = {
    "nav.back_home": "0 Back 00 Home",
    "nav.more": "98 More",
    "err.invalid_choice": "Invalid.",
    "err.too_many_invalid": "Bye.",
    "err.busy": "Busy.",
    "err.sorry": "Sorry {code}.",
    "err.unknown_service": "Unknown.",
    "err.not_zambian": "Zambia only.",
    "err.session_mismatch": "Not yours.",
}


def write(
    tmp_path: Path,
    tree: dict[str, object],
    texts: Mapping[str, object] | None = None,
    **per_lang: Mapping[str, object],
) -> tuple[Path, Catalogs]:
    locales = tmp_path / "locales"
    locales.mkdir(exist_ok=True)
    for lang in ("en", "ny", "bem"):
        table = {**RUNTIME, **(texts or TEXTS), **per_lang.get(lang, {})}
        (locales / f"{lang}.yaml").write_text(yaml.safe_dump(table, allow_unicode=True), encoding="utf-8")
    path = tmp_path / "main.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path, Catalogs.load(locales)


def problems(
    tmp_path: Path,
    tree: dict[str, object],
    texts: Mapping[str, object] | None = None,
    **per_lang: Mapping[str, object],
) -> list[str]:
    path, catalogs = write(tmp_path, tree, texts, **per_lang)
    with pytest.raises(MenuError) as raised:
        load_tree(path, catalogs, registry)
    return raised.value.problems


def with_screen(name: str, screen: dict[str, object]) -> dict[str, object]:
    tree = yaml.safe_load(yaml.safe_dump(GOOD))
    tree["screens"][name] = screen
    return tree


def test_a_good_tree_compiles_to_a_machine(tmp_path: Path) -> None:
    path, catalogs = write(tmp_path, GOOD)
    compiled = load_tree(path, catalogs, registry)
    assert compiled.target("home", "opt_1") == "wallet"
    assert compiled.target("home", "opt_9") is None
    assert compiled.target("wallet", "home") == "start"
    assert "flowchart TD" in mermaid(compiled.tree)


def test_unknown_target_is_named(tmp_path: Path) -> None:
    tree = with_screen(
        "home", {"kind": "menu", "text": "home.title", "options": [{"label": "home.balance", "to": "walet"}]}
    )
    found = problems(tmp_path, tree)
    assert any("screen 'home'" in p and "unknown target screen 'walet'" in p for p in found)
    assert any("menus/main.yaml" in p for p in found)


def test_unreachable_screen_is_named(tmp_path: Path) -> None:
    found = problems(tmp_path, with_screen("orphan", {"kind": "end", "text": "home.title"}))
    assert any("screen 'orphan'" in p and "unreachable" in p for p in found)


def test_missing_translation_names_the_language(tmp_path: Path) -> None:
    tree = with_screen("wallet", {"kind": "end", "text": "wallet.nothing"})
    found = problems(tmp_path, tree, {**TEXTS}, en={"wallet.nothing": "x"}, ny={"wallet.nothing": "y"})
    assert any("screen 'wallet'" in p and "missing translation 'wallet.nothing' in bem" in p for p in found)


def test_static_text_over_budget(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD, {**TEXTS, "home.title": "x" * 150})
    assert any("screen 'home'" in p and "over budget" in p for p in found)


def test_characters_outside_gsm7(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD, {**TEXTS, "home.title": "Mwaŵuka “bwino”"})
    assert any("outside GSM-7" in p and "home.title" in p for p in found)


def test_unknown_action_condition_and_validator(tmp_path: Path) -> None:
    tree = with_screen(
        "home",
        {
            "kind": "menu",
            "text": "home.title",
            "prepare": "fly",
            "options": [{"label": "home.balance", "to": "wallet"}],
        },
    )
    tree["screens"]["start"]["routes"][0]["if"] = "lucky"
    found = problems(tmp_path, tree)
    assert any("unknown action 'fly'" in p for p in found)
    assert any("unknown condition 'lucky'" in p for p in found)
    bad_validator = with_screen(
        "wallet",
        {"kind": "input", "text": "home.title", "validator": {"type": "telepathy"}, "store": "x", "next": "home"},
    )
    found = problems(tmp_path, bad_validator)
    assert any("screen 'wallet'" in p and "validator" in p for p in found)


def test_the_shipped_menu_and_catalogs_pass() -> None:
    from ussd_server.app import build_runtime

    runtime, catalogs = build_runtime()
    assert {"home", "buy.pin", "sell.pin", "reg.language"} <= set(runtime.screens)
    assert set(catalogs.messages["ny"]) == set(catalogs.messages["en"]) == set(catalogs.messages["bem"])


# --- keys with variants (plural forms, exact values) ----------------------------------

TRIES = {"count": "n", "one": "1 try left.", "other": "{n} tries left."}


def test_variants_that_cover_their_languages_pass(tmp_path: Path) -> None:
    no_fee = {"count": "fee", "0": "Paid.", "other": "Paid, fee {fee:money}."}
    path, catalogs = write(tmp_path, GOOD, {**TEXTS, "x.tries": TRIES, "x.fee": no_fee})
    load_tree(path, catalogs, registry)


def test_a_variant_outside_gsm7_is_named(tmp_path: Path) -> None:
    odd = {**TRIES, "one": "1 try left – last one."}
    found = problems(tmp_path, GOOD, {**TEXTS, "x.tries": TRIES}, ny={"x.tries": odd})
    assert any("locales/ny.yaml" in p and "'x.tries'" in p and "outside GSM-7: '–'" in p for p in found), found


def test_a_static_screen_variant_over_budget_is_named(tmp_path: Path) -> None:
    title = {"count": "n", "0": "x" * 150, "other": "Hello"}
    found = problems(tmp_path, GOOD, {**TEXTS, "home.title": title})
    assert any("screen 'home'" in p and "over budget in en (variant '0')" in p for p in found), found


def test_a_plural_missing_a_category_is_named(tmp_path: Path) -> None:
    # "{n} tries" shows the count as a number, so English needs its "one" text too.
    found = problems(
        tmp_path, GOOD, {**TEXTS, "x.tries": TRIES}, bem={"x.tries": {"count": "n", "other": "{n} tries left."}}
    )
    assert any("locales/bem.yaml" in p and "'x.tries'" in p and "missing one" in p for p in found), found
    assert not any("locales/en.yaml" in p for p in found), found


def test_a_translation_choosing_by_another_parameter_is_named(tmp_path: Path) -> None:
    typo = {**TRIES, "count": "m"}
    found = problems(tmp_path, GOOD, {**TEXTS, "x.tries": TRIES}, ny={"x.tries": typo})
    assert any("locales/ny.yaml" in p and "chooses by 'm' but en.yaml by 'n'" in p for p in found), found
    plain_en = {**TEXTS, "x.tries": "{n} tries left."}
    found = problems(tmp_path, GOOD, plain_en, bem={"x.tries": typo})
    assert any("locales/bem.yaml" in p and "a parameter en.yaml's text does not have" in p for p in found), found
