"""Read the menu tree's YAML files, merge them, check the result and compile it.

The tree is several files (``menus.tree_files()``): the first, ``menus/home.yaml``,
names the tree and its start and home screens and holds the way in; each
``menus/features/<feature>.yaml`` holds one feature's screens. They merge into
one tree, in which screens refer to each other freely. A screen id written
twice is refused naming both places, whether in two files or twice in one
(plain YAML would silently keep the second). Every problem is collected and
raised at once as a :class:`~ussd_server.menu.tree.MenuError`.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ussd_server.i18n import Catalogs
from ussd_server.menu.lint import check
from ussd_server.menu.registry import Registry
from ussd_server.menu.schema import MenuFile, MenuTree, Screen
from ussd_server.menu.tree import CompiledTree, MenuError, compile_machine

_HEADER = ("tree", "start", "home")


# libyaml's parser where PyYAML was built with it (the wheels are): every app parses the whole
# tree and three catalogs at start-up, several times faster than the pure-Python parser.
_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SAFE_LOADER):  # type: ignore[valid-type,misc]
    """SafeLoader that refuses a key written twice in one mapping (a second screen with the same id)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"found {key!r} twice", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Hashable, Any] = super().construct_mapping(node, deep=deep)
        return mapping


def load_tree(files: Sequence[Path], catalogs: Catalogs, registry: Registry, *, root: Path) -> CompiledTree:
    """Parse, merge, check and compile ``files`` (the first names the tree); problems name files under ``root``.

    Raises :class:`MenuError` listing every problem.
    """
    names = [_display_name(path, root) for path in files]
    problems: list[str] = []
    header: dict[str, str] = {}
    screens: dict[str, Screen] = {}
    origins: dict[str, str] = {}
    for i, (path, where) in enumerate(zip(files, names, strict=True)):
        part = _read(path, where, problems)
        if part is None:
            continue
        given = {field: getattr(part, field) for field in _HEADER if getattr(part, field) is not None}
        if i == 0:
            header = given
            problems += [f"{where}: {field}: Field required" for field in _HEADER if field not in given]
        elif given:
            problems.append(f"{where}: {', '.join(given)}: only {names[0]} names the tree, start and home")
        for screen_id, screen in part.screens.items():
            if screen_id in origins:
                problems.append(f"{where}: screen {screen_id!r} is already defined in {origins[screen_id]}")
                continue
            screens[screen_id] = screen
            origins[screen_id] = where
    if problems:
        raise MenuError(problems)
    tree = MenuTree(tree=header["tree"], start=header["start"], home=header["home"], screens=screens)
    problems = check(tree, catalogs, registry, origins, names[0])
    if problems:
        raise MenuError(problems)
    return CompiledTree(tuple(names), tree, compile_machine(tree))


def _display_name(path: Path, root: Path) -> str:
    try:
        return f"menus/{path.relative_to(root).as_posix()}"
    except ValueError:
        return f"menus/{path.name}"


def _read(path: Path, where: str, problems: list[str]) -> MenuFile | None:
    try:
        # A SafeLoader subclass: plain data only, like yaml.safe_load.
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
        return MenuFile.model_validate(raw)
    except OSError as exc:
        problems.append(f"{where}: cannot be read: {exc.strerror or exc}")
    except yaml.YAMLError as exc:
        problems.append(f"{where}: not valid YAML: {exc}")
    except ValidationError as exc:
        problems += [_pydantic_problem(where, e) for e in exc.errors()]
    return None


def _pydantic_problem(where: str, error: Any) -> str:
    loc = [str(p) for p in error["loc"]]
    if len(loc) == 2 and loc[0] == "screens" and error["type"] == "union_tag_not_found":
        return f"{where}: screen {loc[1]!r}: kind: Field required (router, menu, list, input, confirm, pin, ...)"
    if len(loc) >= 2 and loc[0] == "screens":
        rest = loc[3:]  # loc[2] is the screen's kind (the union's tag): name the field within it
        return f"{where}: screen {loc[1]!r}: {'.'.join(rest) or 'screen'}: {error['msg']}"
    return f"{where}: {'.'.join(loc)}: {error['msg']}"
