"""Short references people read aloud and type back (engine/references.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.kernel.references import ALPHABET, LENGTH, format_reference, normalize_reference, reference_for

AMBIGUOUS = "01ILOUV"

operation_ids = st.text(max_size=64)


def test_the_same_operation_id_always_gives_the_same_reference() -> None:
    assert reference_for("op-5f1c2a9e0b7d3c4a1e2f3a4b") == reference_for("op-5f1c2a9e0b7d3c4a1e2f3a4b")


def test_references_are_stable_across_processes_and_releases() -> None:
    # Printed on receipts and SMS: a retried or restarted operation must show
    # the same reference, so the derivation may never change silently.
    assert reference_for("demo:trade:1") == "X5ACA544DJ"
    assert reference_for("demo:buy:1") == "4SX85Z5H2G"


@given(a=operation_ids, b=operation_ids)
def test_different_operation_ids_give_different_references(a: str, b: str) -> None:
    if a != b:
        assert reference_for(a) != reference_for(b)


@given(prefix=st.text(max_size=16))
def test_no_collisions_among_thousands_of_similar_operation_ids(prefix: str) -> None:
    ids = [f"{prefix}{i}" for i in range(3000)]
    refs = {reference_for(i) for i in ids}
    assert len(refs) == len(ids)


def test_no_collisions_among_thousands_of_generated_style_ids() -> None:
    ids = [f"op-{i:024x}" for i in range(5000)]
    assert len({reference_for(i) for i in ids}) == len(ids)


@given(operation_ids)
def test_a_reference_has_ten_characters_from_the_alphabet(operation_id: str) -> None:
    ref = reference_for(operation_id)
    assert len(ref) == LENGTH == 10
    assert set(ref) <= set(ALPHABET), f"{ref!r} has characters outside the alphabet"


def test_the_alphabet_has_no_look_alike_characters() -> None:
    assert not set(AMBIGUOUS) & set(ALPHABET)
    assert len(set(ALPHABET)) == len(ALPHABET) == 29, "alphabet must have 29 distinct symbols"


@given(operation_ids)
def test_a_reference_never_contains_ambiguous_characters(operation_id: str) -> None:
    assert not set(reference_for(operation_id)) & set(AMBIGUOUS)


def test_format_reference_groups_five_and_five_with_a_dash() -> None:
    assert format_reference("K7M3Q9XP2A") == "K7M3Q-9XP2A"


@given(operation_ids)
def test_a_formatted_reference_reads_back_as_the_same_reference(operation_id: str) -> None:
    ref = reference_for(operation_id)
    shown = format_reference(ref)
    assert len(shown) == 11
    assert shown[5] == "-"
    assert normalize_reference(shown) == ref


@pytest.mark.parametrize(
    "typed",
    [
        "K7M3Q9XP2A",
        "K7M3Q-9XP2A",
        "k7m3q-9xp2a",
        "k7M3q9Xp2a",
        "K7M3Q 9XP2A",
        "  K7M3Q-9XP2A  ",
        "K7 M3 Q9 XP 2A",
    ],
)
def test_normalize_accepts_what_people_type_back(typed: str) -> None:
    assert normalize_reference(typed) == "K7M3Q9XP2A"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "-",
        "K7M3Q-9XP2",  # one short
        "K7M3Q-9XP2AB",  # one long
        "K7M3Q9XP2A K7M3Q9XP2A",  # two references
        "K7M3Q-9XP20",  # zero
        "K7M3Q-9XPOA",  # letter O
        "K7M3Q-9XP1A",  # one
        "K7M3Q-9XPIA",  # letter I
        "K7M3Q-9XPLA",  # letter L
        "K7M3Q-9XPUA",  # letter U
        "K7M3Q-9XPVA",  # letter V
        "K7M3Q_9XP2A",  # underscore
        "K7M3Q-9XP2Á",  # accented letter
        "K7M3Q-9XP２A",  # full-width digit
    ],
)
def test_normalize_rejects_wrong_length_or_characters(typed: str) -> None:
    assert normalize_reference(typed) is None
