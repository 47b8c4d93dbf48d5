"""Declarative USSD menu trees (YAML) and their message catalogs under ``locales/``.

The tree is ``home.yaml`` (the tree's name, start and home screens, the way in)
followed by one file per feature under ``features/``; docs/menus.md says how
to add to them.
"""

from pathlib import Path

MENUS_DIR = Path(__file__).resolve().parent
LOCALES_DIR = MENUS_DIR / "locales"
HOME_TREE = "home.yaml"
FEATURE_TREES = "features"


def tree_files(base: Path = MENUS_DIR) -> list[Path]:
    """The menu tree's files, in merge order: ``home.yaml`` first, then each feature's file by name.

    A feature's file needs no list to be added to: any ``features/*.yaml`` is part of the tree.
    """
    return [base / HOME_TREE, *sorted((base / FEATURE_TREES).glob("*.yaml"))]
