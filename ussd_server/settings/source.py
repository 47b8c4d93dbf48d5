"""Reading settings from an environment: pydantic-settings' source over a mapping we choose.

``Settings.from_env(mapping)`` must see that mapping and nothing else (tests pass
dicts; the process environment must not leak in), so the source reads the
mapping given and, of it, only the variables the model declares.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource

from ussd_server.settings.fields import env_name, is_secret


class EnvironSource(EnvSettingsSource):
    """The declared variables of ``environ``, as written; an empty one counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ  # read by _load_env_vars, which the base __init__ calls
        super().__init__(settings_cls, case_sensitive=True, env_ignore_empty=True)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        declared = {env_name(name, f) for name, f in self.settings_cls.model_fields.items()}
        return {var: self._environ[var] for var in declared if self._environ.get(var)}

    def prepare_field_value(self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool) -> Any:
        # No JSON decoding of lists: they are written a,b,c and parsed by the field (fields.COMMA_LIST).
        return value


def describe(exc: ValidationError, fields: Mapping[str, FieldInfo], written: Mapping[str, str | None]) -> str:
    """One line per problem, each naming its variable and (unless it is a secret) what was written."""
    by_variable = {env_name(name, f): f for name, f in fields.items()}
    lines = []
    for error in exc.errors():
        message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
        if not error["loc"]:  # a rule across settings: its message names the variables
            lines.append(message)
            continue
        key = str(error["loc"][0])  # the variable, or the field's name for a hand-built Settings(...)
        field = fields.get(key) or by_variable.get(key)
        var = env_name(key, fields[key]) if key in fields else key
        text = written.get(var)
        shown = "" if text is None or field is None or is_secret(field) else f"={text!r}"
        lines.append(f"{var}{shown}: {message}")
    return "invalid settings:\n  " + "\n  ".join(lines)
