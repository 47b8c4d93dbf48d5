"""The co-op screens' texts chosen by number: every language words every value English does.

A catalog text with variants falls back to ``other`` for a value it does not
name, so a translation missing one exact value would show, say, a decision's
wording for an election without any check noticing. The numbers follow the
engine's enums (``kind_no`` is ``ProposalKind.number``).
"""

from __future__ import annotations

import pytest

from engine.coops.model import MemberState, ProposalKind, ProposalState
from ussd_server.i18n import LANGUAGES, Catalogs, Variants, placeholders

COOP_PREFIXES = ("coop.", "sms.coop_", "err.contribution_out_of_range", "err.too_many_open_proposals")


@pytest.fixture(scope="module")
def catalogs() -> Catalogs:
    return Catalogs.load()


def coop_variants(catalogs: Catalogs) -> dict[str, Variants]:
    return {
        key: message
        for key, message in catalogs.messages["en"].items()
        if key.startswith(COOP_PREFIXES) and isinstance(message, Variants)
    }


def test_every_language_names_the_values_english_names(catalogs: Catalogs) -> None:
    english = coop_variants(catalogs)
    assert {"coop.what", "coop.status", "coop.me", "coop.why", "sms.coop_voting_open"} <= set(english)
    for key, message in english.items():
        for language in LANGUAGES:
            translated = catalogs.messages[language][key]
            assert isinstance(translated, Variants), f"{language} {key}"
            assert set(translated.exact) == set(message.exact), f"{language} {key}"


def test_the_numbers_follow_the_engines_enums(catalogs: Catalogs) -> None:
    what = catalogs.messages["en"]["coop.what"]
    status = catalogs.messages["en"]["coop.status"]
    me = catalogs.messages["en"]["coop.me"]
    assert isinstance(what, Variants)
    assert isinstance(status, Variants)
    assert isinstance(me, Variants)
    # Every kind has its own wording but the last (a decision: its text), which is "other".
    assert set(what.exact) == {k.number for k in ProposalKind} - {ProposalKind.DECISION.number}
    assert ProposalKind.DECISION.number == len(ProposalKind)
    # Every state but the last (expired, "other"); 9 and 10 are the screen's own (treasury short, counting).
    assert set(status.exact) == set(range(1, len(ProposalState))) | {9, 10}
    # Current members' states in order, then chair and treasurer; former members are "other".
    current = [
        i for i, s in enumerate(MemberState, 1) if s in (MemberState.APPLIED, *(x for x in MemberState if x.current))
    ]
    assert set(me.exact) == {0, *current, 8, 9}


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_kind_of_proposal_is_described_with_what_it_needs(catalogs: Catalogs, language: str) -> None:
    params = {"quantity": 2, "item": "Panel", "ngwee": 900_000, "phone": "+260977123456", "text": "Fix it",
              "price": 150, "bylaw": "quorum", "value": "60%", "role": "chair"}  # fmt: skip
    for kind in ProposalKind:
        text = catalogs.render(language, "coop.what", {"kind_no": kind.number, **params})
        assert text, f"{language} {kind}"
        assert "{" not in text, f"{language} {kind}: {text}"
        named = {name for name, _ in placeholders(catalogs.text(language, "coop.what", {"kind_no": kind.number}))}
        english = {name for name, _ in placeholders(catalogs.text("en", "coop.what", {"kind_no": kind.number}))}
        assert named == english, f"{language} {kind}: says {named}, English {english}"
