"""Users, signing in and profiles."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from engine.identity.model import User
from ussd_server.api.models.common import Body, Language, PhoneText, Pin, View, at


class RegisterUser(Body):
    """A partner registers a number it has verified (on USSD, the carrier vouches for the number)."""

    phone: PhoneText
    name: str = Field(min_length=1, max_length=40, examples=["Chipo Phiri"])
    language: Language = "en"
    pin: Pin = Field(description="the PIN the user chose (4 digits, not an easy one like 1234)")


class SignIn(Body):
    phone: PhoneText
    pin: Pin


class ChangePin(Body):
    pin: Pin = Field(description="the current PIN (or the one-time PIN from an operator reset)")
    new_pin: Pin


class UpdateProfile(Body):
    """One field or both; a field left out is left as it is (null is not a value here)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, json_schema_extra={"minProperties": 1})

    name: str | SkipJsonSchema[None] = Field(default=None, min_length=1, max_length=40)
    language: Language | SkipJsonSchema[None] = None

    @field_validator("name", "language", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("leave the field out instead of sending null")
        return value

    @model_validator(mode="after")
    def _something(self) -> UpdateProfile:
        if self.name is None and self.language is None:
            raise ValueError("give name, language or both")
        return self


class Profile(View):
    phone: str = Field(description="E.164", examples=["+260977123456"])
    name: str
    language: Language
    registered_at: datetime
    pin_must_change: bool = Field(description="the PIN is a one-time PIN from an operator reset: change it first")
    outflow_held_until: datetime | None = Field(
        description="after an operator PIN reset nothing may leave the wallet until then; null when not held"
    )

    @classmethod
    def of(cls, user: User, now_us: int) -> Profile:
        return cls(
            phone=user.phone,
            name=user.name,
            language=str(user.language),  # type: ignore[arg-type]  # Language values are the literals
            registered_at=at(user.created_at),
            pin_must_change=user.pin_must_change,
            outflow_held_until=at(user.hold_until) if user.hold_until > now_us else None,
        )


class Session(View):
    token: str = Field(description="send as `Authorization: Bearer <token>`; shown only here")
    token_type: Literal["Bearer"] = "Bearer"
    expires_at: datetime
    user: Profile


class SignedOut(View):
    signed_out: bool
