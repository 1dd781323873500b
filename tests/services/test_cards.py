"""Cards: Luhn card numbers, unguessable tokens, e-mail normalisation, look-ups by any reference."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from loyalty.clock import FixedClock
from loyalty.db import Database
from loyalty.errors import CardAlreadyExists, CardNotFound
from loyalty.services import cards
from loyalty.services.card_numbers import (
    CARD_NUMBER_DIGITS,
    format_card_number,
    is_valid_card_number,
    luhn_check_digit,
    new_card_number,
    new_token,
    normalise_card_number,
)
from loyalty.services.cards import CardRef, Enrolment
from tests.services import helpers
from tests.services.helpers import Caller
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

bodies = st.text(alphabet="0123456789", min_size=CARD_NUMBER_DIGITS - 1, max_size=CARD_NUMBER_DIGITS - 1)


@given(body=bodies)
def test_a_number_with_its_check_digit_passes_luhn(body: str) -> None:
    assert is_valid_card_number(body + luhn_check_digit(body))


@given(body=bodies, position=st.integers(0, CARD_NUMBER_DIGITS - 1), shift=st.integers(1, 9))
def test_a_single_digit_typo_fails(body: str, position: int, shift: int) -> None:
    number = body + luhn_check_digit(body)
    typo = number[:position] + str((int(number[position]) + shift) % 10) + number[position + 1 :]
    assert typo != number
    assert not is_valid_card_number(typo)


@given(body=bodies, position=st.integers(0, CARD_NUMBER_DIGITS - 2))
def test_swapping_two_neighbours_fails_unless_they_are_0_and_9_or_equal(body: str, position: int) -> None:
    number = body + luhn_check_digit(body)
    a, b = number[position], number[position + 1]
    swapped = number[:position] + b + a + number[position + 2 :]
    if a == b or {a, b} == {"0", "9"}:  # the one transposition Luhn cannot see
        return
    assert not is_valid_card_number(swapped)


def test_known_luhn_numbers() -> None:
    assert is_valid_card_number("4539578763621486")
    assert is_valid_card_number("4111111111111111")
    assert not is_valid_card_number("4111111111111112")
    assert not is_valid_card_number("411111111111111")  # too short
    assert not is_valid_card_number("4111 1111 1111 1111")  # stored form is digits only
    assert not is_valid_card_number("٤١١١١١١١١١١١١١١١")  # Arabic-Indic digits pass str.isdigit and int()
    assert not is_valid_card_number("²" * 16)  # passes str.isdigit, fails int()


def test_new_card_numbers_are_sixteen_valid_digits_without_a_leading_zero() -> None:
    numbers = {new_card_number() for _ in range(2000)}
    assert len(numbers) == 2000
    for number in numbers:
        assert len(number) == CARD_NUMBER_DIGITS and number[0] != "0"
        assert is_valid_card_number(number)


def test_typed_numbers_are_normalised_and_formatted() -> None:
    assert normalise_card_number(" 4111 1111-1111 1111 ") == "4111111111111111"
    assert normalise_card_number("4111\u00a01111\u202f1111 1111") == "4111111111111111"  # copied from a page
    # Text that is not a number is no number: the digits inside it are not picked out.
    for text in ("100%", "12ab34", "²³", "٤١١١", "", "  "):
        assert normalise_card_number(text) == "", text
    assert format_card_number("4111111111111111") == "4111 1111 1111 1111"


def _token_bits(token: str) -> int:
    return len(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))) * 8


def test_tokens_carry_at_least_128_random_bits() -> None:
    tokens = {new_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert min(_token_bits(token) for token in tokens) >= 128


async def test_enrolled_cards_have_distinct_identifiers(database: Database, caller: Caller, tenant: Tenant) -> None:
    views = [await caller.with_program(cards.enrol, Enrolment(email=f"c{n}@example.com")) for n in range(12)]
    numbers = [v.card.card_number for v in views] + [tenant.card_number]
    secrets = [v.card.qr_code for v in views] + [v.card.card_token for v in views] + [tenant.qr_code, tenant.card_token]
    assert len(set(numbers)) == len(numbers)
    assert len(set(secrets)) == len(secrets)  # and no QR payload is also a token
    assert all(is_valid_card_number(n) for n in numbers)
    assert all(_token_bits(s) >= 128 for s in secrets)
    assert not any(n in s for n in numbers for s in secrets)


async def test_enrolment_starts_an_empty_card(caller: Caller, clock: FixedClock) -> None:
    view = await caller.with_program(
        cards.enrol, Enrolment(email="New@Example.com", name="New", phone="+352 123", locale="fr-LU")
    )
    card, customer = view.card, view.customer
    assert (card.stamp_count, card.points_balance, card.total_stamps_earned, card.is_active) == (0, 0, 0, True)
    assert card.enrolled_at == card.updated_at == clock.now()
    assert (customer.email, customer.email_normalised, customer.locale) == ("New@example.com", "new@example.com", "fr")


async def test_one_card_per_email_per_programme(database: Database, caller: Caller, tenant: Tenant) -> None:
    for again in ("customer@example.com", "CUSTOMER@EXAMPLE.COM", "Customer@Example.Com"):
        with pytest.raises(CardAlreadyExists) as refused:
            await caller.with_program(cards.enrol, Enrolment(email=again))
        # the vendor, at its counter, is told which card; the public never is (tests/api/test_vendor_cards.py)
        assert refused.value.details == {"card_id": tenant.card_id, "card_number": tenant.card_number}
    assert len(await helpers.ledger(database)) == 0


async def test_the_same_email_enrols_in_another_programme(other_caller: Caller, tenant: Tenant) -> None:
    view = await other_caller.with_program(cards.enrol, Enrolment(email="Customer@Example.com"))
    assert view.card.id != tenant.card_id


def test_enrolment_validates_its_input() -> None:
    with pytest.raises(ValidationError):
        Enrolment(email="not-an-email")
    with pytest.raises(ValidationError):
        Enrolment(email="a@example.com", locale="xx")


async def test_a_card_is_found_by_any_reference(caller: Caller, tenant: Tenant) -> None:
    for ref in (
        CardRef(card_id=tenant.card_id),
        CardRef(qr_code=tenant.qr_code),
        CardRef(card_number=tenant.card_number),
        CardRef(card_number=format_card_number(tenant.card_number)),
    ):
        assert (await caller(cards.find_card, ref)).card.id == tenant.card_id
    assert (await caller(cards.find_card_by_token, tenant.card_token)).id == tenant.card_id


async def test_another_vendors_card_is_not_found(caller: Caller, other_tenant: Tenant) -> None:
    for ref in (CardRef(card_id=other_tenant.card_id), CardRef(qr_code=other_tenant.qr_code)):
        with pytest.raises(CardNotFound):
            await caller(cards.find_card, ref)
    with pytest.raises(CardNotFound):
        await caller(cards.find_card_by_token, "no-such-token")


async def test_deactivating_a_card_moves_its_pass_version(
    database: Database, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    from datetime import timedelta

    clock.advance(timedelta(minutes=1))
    view = await caller(cards.set_card_active, tenant.card_id, False)
    assert (view.card.is_active, view.card.updated_at) == (False, clock.now())
    view = await caller(cards.set_card_active, tenant.card_id, True)
    assert view.card.is_active
