"""The menu checker names the file and screen of every mistake, before anything starts."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from ussd_server.i18n import Catalogs
from ussd_server.menu.context import Hop
from ussd_server.menu.loader import load_tree
from ussd_server.menu.registry import Feature, Outcome, Registry
from ussd_server.menu.reply import PREFIX_LENGTH, SCREEN_LIMIT
from ussd_server.menu.tree import CompiledTree, MenuError, mermaid


async def _always(hop: Hop) -> bool:
    return True


async def _nothing(hop: Hop) -> Outcome:
    return Outcome()


# The names the small trees below use, declared the way a feature module declares them.
registry = Registry.of([Feature(name="test", conditions={"registered": _always})])

# A YAML tree as plain data.
Tree = dict[str, Any]
GOOD: Tree = {
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
    tree: Tree,
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


def load(path: Path, catalogs: Catalogs, names: Registry = registry) -> CompiledTree:
    return load_tree([path], catalogs, names, root=path.parent)


def problems(
    tmp_path: Path,
    tree: Tree,
    texts: Mapping[str, object] | None = None,
    **per_lang: Mapping[str, object],
) -> list[str]:
    path, catalogs = write(tmp_path, tree, texts, **per_lang)
    with pytest.raises(MenuError) as raised:
        load(path, catalogs)
    return raised.value.problems


def with_screen(name: str, screen: Tree) -> Tree:
    tree: Tree = yaml.safe_load(yaml.safe_dump(GOOD))
    tree["screens"][name] = screen
    return tree


def test_a_good_tree_compiles_to_a_machine(tmp_path: Path) -> None:
    path, catalogs = write(tmp_path, GOOD)
    compiled = load(path, catalogs)
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
    # The lint counts the option and navigation lines and the CON/END prefix: one character more than
    # fits is named, exactly what fits passes.
    room = SCREEN_LIMIT - PREFIX_LENGTH - len("\n1 Balance\n0 Back 00 Home")
    found = problems(tmp_path, GOOD, {**TEXTS, "home.title": "x" * (room + 1)})
    assert any("screen 'home'" in p and f"over budget in en: {SCREEN_LIMIT + 1} > {SCREEN_LIMIT}" in p for p in found)
    assert not problems_or_none(tmp_path, GOOD, {**TEXTS, "home.title": "x" * room})


def problems_or_none(tmp_path: Path, tree: Tree, texts: Mapping[str, object]) -> list[str]:
    path, catalogs = write(tmp_path, tree, texts)
    try:
        load(path, catalogs)
    except MenuError as exc:
        return exc.problems
    return []


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
    load(path, catalogs)


def test_a_variant_outside_gsm7_is_named(tmp_path: Path) -> None:
    odd = {**TRIES, "one": "1 try left – last one."}
    found = problems(tmp_path, GOOD, {**TEXTS, "x.tries": TRIES}, ny={"x.tries": odd})
    assert any("locales/ny.yaml" in p and "'x.tries'" in p and "outside GSM-7: '–'" in p for p in found), found


def test_a_static_screen_variant_over_budget_is_named(tmp_path: Path) -> None:
    title = {"count": "n", "0": "x" * SCREEN_LIMIT, "other": "Hello"}
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


# --- a tree in several files ----------------------------------------------------------


def split(tmp_path: Path, home: Tree, **features: Tree) -> list[Path]:
    """``home`` as menus/home.yaml and each feature's screens as menus/features/<name>.yaml."""
    write(tmp_path, GOOD)  # the catalogs
    (tmp_path / "features").mkdir(exist_ok=True)
    files = [tmp_path / "home.yaml"]
    files[0].write_text(yaml.safe_dump(home), encoding="utf-8")
    for name, screens in features.items():
        files.append(tmp_path / "features" / f"{name}.yaml")
        files[-1].write_text(yaml.safe_dump({"screens": screens}), encoding="utf-8")
    return files


def split_problems(tmp_path: Path, files: list[Path]) -> list[str]:
    with pytest.raises(MenuError) as raised:
        load_tree(files, Catalogs.load(tmp_path / "locales"), registry, root=tmp_path)
    return raised.value.problems


def good_home() -> Tree:
    tree: Tree = yaml.safe_load(yaml.safe_dump(GOOD))
    del tree["screens"]["wallet"]
    return tree


def test_feature_files_merge_into_one_tree(tmp_path: Path) -> None:
    files = split(tmp_path, good_home(), wallet={"wallet": {"kind": "end", "text": "wallet.statement"}})
    compiled = load_tree(files, Catalogs.load(tmp_path / "locales"), registry, root=tmp_path)
    assert compiled.target("home", "opt_1") == "wallet", "a screen in home.yaml leads to one in a feature file"
    assert compiled.files == ("menus/home.yaml", "menus/features/wallet.yaml")


def test_a_screen_id_in_two_files_is_refused_naming_both(tmp_path: Path) -> None:
    wallet = {"kind": "end", "text": "wallet.statement"}
    files = split(tmp_path, good_home(), buy={"wallet": wallet}, wallet={"wallet": wallet})
    found = split_problems(tmp_path, files)
    assert found == ["menus/features/wallet.yaml: screen 'wallet' is already defined in menus/features/buy.yaml"]


def test_a_screen_id_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    files = split(tmp_path, good_home(), wallet={"wallet": {"kind": "end", "text": "wallet.statement"}})
    text = files[1].read_text(encoding="utf-8")
    files[1].write_text(text + "  wallet:\n    kind: end\n    text: home.title\n", encoding="utf-8")
    found = split_problems(tmp_path, files)
    assert len(found) == 1, found
    assert found[0].startswith("menus/features/wallet.yaml: not valid YAML"), found
    assert "found 'wallet' twice" in found[0], found


def test_only_the_home_file_names_the_tree(tmp_path: Path) -> None:
    files = split(tmp_path, good_home(), wallet={"wallet": {"kind": "end", "text": "wallet.statement"}})
    files[1].write_text(yaml.safe_dump({"home": "wallet", "screens": {}}), encoding="utf-8")
    found = split_problems(tmp_path, files)
    assert any(p.startswith("menus/features/wallet.yaml: home: only menus/home.yaml names") for p in found), found
    home = good_home()
    del home["start"]
    found = split_problems(tmp_path, split(tmp_path, home))
    assert "menus/home.yaml: start: Field required" in found, found


def test_problems_name_the_feature_file_of_the_screen(tmp_path: Path) -> None:
    files = split(tmp_path, good_home(), wallet={"wallet": {"kind": "end", "text": "wallet.missing"}})
    found = split_problems(tmp_path, files)
    assert "menus/features/wallet.yaml: screen 'wallet': missing translation 'wallet.missing' in en" in found, found


# --- each kind of screen has exactly its own fields -----------------------------------


@pytest.mark.parametrize(
    ("screen", "expected"),
    [
        ({"kind": "pin", "text": "home.title", "next": "home", "store": "p"}, "store: Extra inputs are not permitted"),
        ({"kind": "input", "text": "home.title", "validator": {"type": "x"}, "next": "home"}, "store: Field required"),
        ({"kind": "end", "text": "home.title", "nav": False}, "nav: Extra inputs are not permitted"),
        ({"kind": "router", "routes": []}, "routes: List should have at least 1 item"),
        ({"kind": "action", "action": "x", "outcomes": {"done": "home"}}, "needs an 'ok' route"),
        ({"kind": "note", "text": "home.title", "resume": True}, "resume: Extra inputs are not permitted"),
        ({"kind": "list", "text": "home.title", "source": "s", "item": "i", "store": "x"}, "both store and next"),
        ({"kind": "menu", "text": "", "options": [{"label": "home.balance", "to": "home"}]}, "text: String should"),
        ({"kind": "popup", "text": "home.title"}, "does not match any of the expected tags"),
    ],
)
def test_a_screen_with_fields_not_of_its_kind_is_named(tmp_path: Path, screen: Tree, expected: str) -> None:
    found = problems(tmp_path, with_screen("wallet", screen))
    assert any(p.startswith("menus/main.yaml: screen 'wallet': ") and expected in p for p in found), found


# --- names the features declare --------------------------------------------------------


def test_a_declared_action_no_screen_uses_is_named(tmp_path: Path) -> None:
    unused = Registry.of(
        [Feature(name="test", conditions={"registered": _always}), Feature(name="buy", actions={"buy_more": _nothing})]
    )
    path, catalogs = write(tmp_path, GOOD)
    with pytest.raises(MenuError) as raised:
        load(path, catalogs, unused)
    assert raised.value.problems == ["feature 'buy': action 'buy_more' is declared but no screen uses it"]


def test_a_declared_condition_no_screen_uses_is_named(tmp_path: Path) -> None:
    tree = with_screen("start", {"kind": "router", "routes": [{"to": "home"}]})
    found = problems(tmp_path, tree)
    assert found == ["feature 'test': condition 'registered' is declared but no screen uses it"], found


def test_an_unknown_validator_is_named(tmp_path: Path) -> None:
    screen = {"kind": "input", "text": "home.title", "validator": {"type": "name"}, "store": "x", "next": "home"}
    found = problems(tmp_path, with_screen("wallet", screen))
    assert found == ["menus/main.yaml: screen 'wallet': unknown validator 'name'"], found
