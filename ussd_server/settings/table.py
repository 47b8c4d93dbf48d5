"""The settings as a Markdown table: ``enerlectra settings``, and the README's Configuration table."""

from __future__ import annotations

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from ussd_server.settings.fields import env_name, is_secret, written


def shown_default(field: FieldInfo) -> str:
    """A default the way it is written in the environment (a secret's never shown)."""
    value = field.default
    if value is None or value == () or value == "":
        return "unset"
    if is_secret(field):
        return "a dev-only value"
    form = written(field)
    if form is not None:
        text = form.show(value)
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return f"`{text}`"


def markdown_table(settings_cls: type[BaseSettings]) -> str:
    """One row per setting, in declaration order: variable, default, meaning."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in settings_cls.model_fields.items():
        rows.append(f"| `{env_name(name, field)}` | {shown_default(field)} | {field.description or ''} |")
    return "\n".join(rows) + "\n"
