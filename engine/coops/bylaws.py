"""A co-op's bylaws: the rules its members agreed, with defaults a member can read on one screen.

Money is integer ngwee, time integer seconds, shares of a vote integer
percent. Every bylaw can be changed by a proposal that wins two-thirds of the
votes cast (see :mod:`engine.coops.governance`).
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from engine.kernel.errors import InvalidBylaws

DAY_S = 24 * 3600


class VotingMode(enum.StrEnum):
    ONE_MEMBER_ONE_VOTE = "one_member_one_vote"  # the ICA's democratic member control
    SHARE_WEIGHTED = "share_weighted"  # only where the bylaws say so


class Admission(enum.StrEnum):
    OPEN = "open"  # anyone who asks is admitted
    BY_VOTE = "by_vote"  # asking opens an "admit" proposal


@dataclass(frozen=True, slots=True)
class Bylaws:
    par_value_ngwee: int = 10_000  # K100 a share
    min_contribution_ngwee: int = 200_000  # K2,000 to be a full (voting) member
    max_contribution_ngwee: int = 500_000  # K5,000: no member buys control
    contribution_deadline_days: int = 90  # instalments allowed this long after joining
    min_members: int = 10  # full members the co-op needs to be active
    voting_mode: VotingMode = VotingMode.ONE_MEMBER_ONE_VOTE
    quorum_pct: int = 50  # of the electorate's weight, counting Yes and Abstain
    pass_pct: int = 50  # Yes must be more than this share of Yes + No
    voting_delay_s: int = 3600  # between proposing and voting opening
    voting_period_s: int = 3 * DAY_S
    execution_delay_s: int = DAY_S  # between success and execution: time to notice and object
    admission: Admission = Admission.OPEN
    exit_notice_days: int = 30  # a leaving member is refunded this long after giving notice
    hide_results_until_close: bool = False

    def validate(self) -> Bylaws:
        """Raise :class:`InvalidBylaws` naming the first rule that makes no sense."""
        problems = [
            ("par_value_ngwee", self.par_value_ngwee >= 100),
            ("min_contribution_ngwee", self.min_contribution_ngwee >= self.par_value_ngwee),
            ("max_contribution_ngwee", self.max_contribution_ngwee >= self.min_contribution_ngwee),
            ("max_contribution_ngwee", self.max_contribution_ngwee <= 100_000_000),
            ("contribution_deadline_days", 1 <= self.contribution_deadline_days <= 730),
            ("min_members", 1 <= self.min_members <= 10_000),
            ("quorum_pct", 1 <= self.quorum_pct <= 100),
            ("pass_pct", 50 <= self.pass_pct <= 99),
            ("voting_delay_s", 0 <= self.voting_delay_s <= 7 * DAY_S),
            ("voting_period_s", 600 <= self.voting_period_s <= 30 * DAY_S),
            ("execution_delay_s", 0 <= self.execution_delay_s <= 30 * DAY_S),
            ("exit_notice_days", 0 <= self.exit_notice_days <= 365),
        ]
        for name, ok in problems:
            if not ok:
                raise InvalidBylaws("a bylaw is out of range", bylaw=name, value=str(getattr(self, name)))
        return self

    def to_dict(self) -> dict[str, str | int]:
        out: dict[str, str | int] = {}
        for key, value in asdict(self).items():
            out[key] = value if isinstance(value, int) and not isinstance(value, bool) else str(value)
            if isinstance(value, bool):
                out[key] = int(value)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Bylaws:
        return cls().changed(data)

    def changed(self, changes: dict[str, Any]) -> Bylaws:
        """These bylaws with ``changes`` (names and values as text or numbers), validated."""
        known = {f.name: f for f in fields(self)}
        parsed: dict[str, Any] = {}
        for name, raw in changes.items():
            if name not in known:
                raise InvalidBylaws("no such bylaw", bylaw=name)
            parsed[name] = _parse(name, raw)
        return replace(self, **parsed).validate()


def _parse(name: str, raw: Any) -> Any:
    try:
        if name == "voting_mode":
            return VotingMode(str(raw))
        if name == "admission":
            return Admission(str(raw))
        if name == "hide_results_until_close":
            text = str(raw).strip().lower()
            if text not in {"0", "1", "true", "false"}:
                raise ValueError(text)
            return text in {"1", "true"}
        if isinstance(raw, bool):
            raise ValueError(raw)
        return int(raw)
    except ValueError:
        raise InvalidBylaws("a bylaw has the wrong kind of value", bylaw=name, value=str(raw)) from None


# Members per co-op type that make it active, when its founder does not say.
MIN_MEMBERS_BY_KIND = {"micro": 10, "neighbourhood": 50, "industrial": 1, "supply": 2}


def default_bylaws(kind: str) -> Bylaws:
    return Bylaws(min_members=MIN_MEMBERS_BY_KIND.get(kind, 10))
