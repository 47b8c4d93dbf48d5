"""Declarative USSD menu trees (YAML) and their message catalogs under ``locales/``."""
