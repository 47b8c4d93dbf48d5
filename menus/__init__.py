"""Declarative USSD menu trees (YAML) and their message catalogs under ``locales/``."""

from pathlib import Path

MENUS_DIR = Path(__file__).resolve().parent
LOCALES_DIR = MENUS_DIR / "locales"
MAIN_TREE = MENUS_DIR / "main.yaml"
