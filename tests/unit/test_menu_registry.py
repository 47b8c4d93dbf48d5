"""Menu features are registered explicitly: a name declared twice is refused, nothing registers itself."""

from __future__ import annotations

import importlib
import math
import pkgutil
from pathlib import Path

import pytest
import yaml

import ussd_server.menu.features as features_package
from ussd_server.app import build_runtime
from ussd_server.i18n import Catalogs
from ussd_server.menu.context import Hop
from ussd_server.menu.loader import load_tree
from ussd_server.menu.registry import DuplicateName, Feature, Outcome, Registry
from ussd_server.menu.reply import END, SCREEN_LIMIT, TEXT_BUDGET
from ussd_server.menu.runtime import MenuRuntime
from ussd_server.sessions.model import Session
from ussd_server.settings import Settings


def bare_hop(session: Session, catalogs: Catalogs) -> Hop:
    """A hop with no platform and no limiter: the test menus here never reach either (a unit test opens no store)."""
    return Hop(session, None, Settings.from_env({}), catalogs, limiter=None, deadline=math.inf)  # type: ignore[arg-type]


async def _ok(hop: Hop) -> Outcome:
    return Outcome()


async def _yes(hop: Hop) -> bool:
    return True


def test_a_name_two_features_declare_is_refused_naming_both() -> None:
    with pytest.raises(DuplicateName) as raised:
        Registry.of([Feature(name="buy", actions={"quote": _ok}), Feature(name="trade", actions={"quote": _ok})])
    assert str(raised.value) == "action 'quote' is declared by feature 'buy' and again by 'trade'"


def test_a_feature_registered_twice_is_refused() -> None:
    buy = Feature(name="buy", actions={"quote": _ok})
    with pytest.raises(DuplicateName, match="feature 'buy' is registered twice"):
        Registry.of([buy, buy])


def test_kinds_are_separate_namespaces() -> None:
    # `action: carbon` and `if: carbon` are different YAML fields: one name may serve both.
    registry = Registry.of([Feature(name="a", actions={"carbon": _ok}), Feature(name="b", conditions={"carbon": _yes})])
    assert registry.actions["carbon"] is _ok
    assert registry.conditions["carbon"] is _yes
    assert registry.owners[("condition", "carbon")] == "b"


def test_every_feature_module_is_registered_by_the_app() -> None:
    """A feature module the app forgot would leave its names unknown; one FEATURE per module, each listed."""
    registry = build_runtime()[0].registry
    declared = set(registry.owners.values())
    for info in pkgutil.iter_modules(features_package.__path__):
        module = importlib.import_module(f"{features_package.__name__}.{info.name}")
        feature = getattr(module, "FEATURE", None)
        if feature is None:
            continue  # a module of shared steps (gates), not a feature
        assert isinstance(feature, Feature), info.name
        assert feature.name in declared, f"ussd_server/menu/features/{info.name}.py is not in build_runtime()"


def test_importing_the_features_registers_nothing() -> None:
    """Two registries built from the same features are separate: no module-global registry fills up."""
    first = build_runtime()[0].registry
    second = build_runtime()[0].registry
    assert first is not second
    assert dict(first.actions) == dict(second.actions)


async def test_the_runtime_uses_the_registry_it_was_given(tmp_path: Path) -> None:
    calls: list[str] = []

    async def greet(hop: Hop) -> Outcome:
        calls.append(hop.session.id)
        return Outcome(values={"first_name": "Mwila"}, keep=False)

    runtime_shipped, catalogs = build_runtime()
    tree = {
        "tree": "t",
        "start": "start",
        "home": "home",
        "screens": {
            "start": {"kind": "action", "action": "greet", "outcomes": {"ok": "home"}},
            "home": {"kind": "end", "text": "home.title"},
        },
    }
    (tmp_path / "home.yaml").write_text(yaml.safe_dump(tree), encoding="utf-8")
    registry = Registry.of([Feature(name="test", actions={"greet": greet})])
    runtime = MenuRuntime(load_tree([tmp_path / "home.yaml"], catalogs, registry, root=tmp_path), catalogs, registry)
    session = Session(id="s1", phone="+260977123456", state="")
    hop = bare_hop(session, catalogs)
    reply = await runtime.start(hop)
    assert calls == ["s1"]
    assert reply.end
    assert reply.body == "END " + catalogs.render("en", "home.title", {"first_name": "Mwila"})
    assert "greet" not in runtime_shipped.registry.actions, "the test's feature did not leak into the app's registry"


async def test_a_long_text_is_fitted_to_the_screen_budget(tmp_path: Path) -> None:
    async def long_name(hop: Hop) -> Outcome:
        return Outcome(values={"first_name": "Mwila " * 40}, keep=False)

    _, catalogs = build_runtime()
    tree = {
        "tree": "t",
        "start": "start",
        "home": "home",
        "screens": {
            "start": {"kind": "action", "action": "long_name", "outcomes": {"ok": "home"}},
            "home": {"kind": "end", "text": "home.title"},
        },
    }
    (tmp_path / "home.yaml").write_text(yaml.safe_dump(tree), encoding="utf-8")
    registry = Registry.of([Feature(name="test", actions={"long_name": long_name})])
    runtime = MenuRuntime(load_tree([tmp_path / "home.yaml"], catalogs, registry, root=tmp_path), catalogs, registry)
    session = Session(id="s1", phone="+260977123456", state="")
    hop = bare_hop(session, catalogs)
    reply = await runtime.start(hop)
    assert reply.body.startswith(END + catalogs.text("en", "home.title").split("{")[0]), reply.body
    assert len(reply.text) <= TEXT_BUDGET, reply.text
    assert len(reply.body) <= SCREEN_LIMIT, reply.body
    assert reply.body.endswith(".."), "a cut text says it was cut"
