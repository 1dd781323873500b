"""Answers of the counter operations (stamp, redeem, earn, spend), each with a localised `message`.

The request bodies are the services' own models (StampRequest, EarnRequest, PointsRedeemRequest,
VoidRequest): one definition of what the counter may send.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from loyalty.api.schemas.common import Instant
from loyalty.i18n import N_, NP_, translate
from loyalty.models import TransactionType
from loyalty.services.points import PointsOutcome
from loyalty.services.stamps import RedeemOutcome, StampOutcome

STAMP_ADDED = NP_("Stamp added: {count} of {target} stamp", "Stamp added: {count} of {target} stamps", count="target")
REWARD_EARNED = N_("Reward earned: {reward}!")
REWARD_EARNED_PLAIN = N_("Reward earned!")
REWARD_REDEEMED = N_("Reward redeemed")
REWARD_REDEEMED_NAMED = N_("Reward redeemed: {reward}")
POINTS_ADDED = NP_("{points} point added", "{points} points added", count="points")


class StampResult(BaseModel):
    transaction_id: int = Field(description="The ledger entry this stamp wrote.")
    card_id: int = Field(description="The stamped card.")
    card_number: str = Field(description="The card's number (digits only).")
    stamp_count: int = Field(description="Stamps on the card after this one.")
    stamps_target: int = Field(description="Stamps a reward takes.")
    stamps_until_reward: int = Field(description="Stamps still missing for the reward (0 once it is earned).")
    reward_earned: bool = Field(description="Whether the card now holds enough stamps for the reward.")
    reward_description: str | None = Field(description="The programme's stamp reward, if it names one.")
    next_stamp_available_at: Instant | None = Field(
        description="When the cooldown ends and the card may be stamped again (UTC); null without cooldown.",
    )
    stamps_today: int = Field(
        description="Stamps the card received today, the vendor's local day (voided ones included).",
    )
    stamps_remaining_today: int = Field(description="Stamps the card may still receive today, the vendor's local day.")
    message: str = Field(description="What to tell the customer, in the request's language.")

    @classmethod
    def from_outcome(cls, outcome: StampOutcome, locale: str) -> StampResult:
        card, program = outcome.card, outcome.program
        if not outcome.reward_earned:
            message = translate(STAMP_ADDED, locale, count=card.stamp_count, target=program.stamps_target)
        elif program.stamps_reward_description:
            message = translate(REWARD_EARNED, locale, reward=program.stamps_reward_description)
        else:
            message = translate(REWARD_EARNED_PLAIN, locale)
        return cls(
            transaction_id=outcome.entry.id,
            card_id=card.id,
            card_number=card.card_number,
            stamp_count=card.stamp_count,
            stamps_target=program.stamps_target,
            stamps_until_reward=outcome.stamps_until_reward,
            reward_earned=outcome.reward_earned,
            reward_description=program.stamps_reward_description,
            next_stamp_available_at=outcome.next_stamp_available_at,
            stamps_today=outcome.stamps_today,
            stamps_remaining_today=outcome.stamps_remaining_today,
            message=message,
        )


class RedeemResult(BaseModel):
    transaction_id: int = Field(description="The ledger entry this redemption wrote.")
    card_id: int = Field(description="The card.")
    card_number: str = Field(description="The card's number (digits only).")
    stamp_count: int = Field(description="Stamps left on the card (extra stamps carry over).")
    stamps_target: int = Field(description="Stamps a reward takes.")
    reward_description: str | None = Field(description="The reward redeemed, if the programme names one.")
    total_redemptions: int = Field(description="Stamp rewards redeemed with this card, this one included.")
    message: str = Field(description="What to tell the customer, in the request's language.")

    @classmethod
    def from_outcome(cls, outcome: RedeemOutcome, locale: str) -> RedeemResult:
        card, program = outcome.card, outcome.program
        return cls(
            transaction_id=outcome.entry.id,
            card_id=card.id,
            card_number=card.card_number,
            stamp_count=card.stamp_count,
            stamps_target=program.stamps_target,
            reward_description=program.stamps_reward_description,
            total_redemptions=card.stamps_redeemed,
            message=_redeemed(program.stamps_reward_description, locale),
        )


class PointsResult(BaseModel):
    transaction_id: int = Field(description="The ledger entry this operation wrote.")
    card_id: int = Field(description="The card.")
    card_number: str = Field(description="The card's number (digits only).")
    points_delta: int = Field(description="Points added (earn) or taken off (redemption, negative).")
    points_balance: int = Field(description="Points on the card after the operation.")
    reward_id: int | None = Field(None, description="The catalogue reward redeemed; null for an earn.")
    reward_description: str | None = Field(None, description="The reward's name; null for an earn.")
    message: str = Field(description="What to tell the customer, in the request's language.")

    @classmethod
    def from_outcome(cls, outcome: PointsOutcome, locale: str) -> PointsResult:
        entry, card = outcome.entry, outcome.card
        if entry.transaction_type == TransactionType.POINTS_EARNED:
            message = translate(POINTS_ADDED, locale, points=entry.points_delta)
        else:
            message = _redeemed(entry.reward_description, locale)
        return cls(
            transaction_id=entry.id,
            card_id=card.id,
            card_number=card.card_number,
            points_delta=entry.points_delta,
            points_balance=card.points_balance,
            reward_id=entry.reward_id,
            reward_description=entry.reward_description,
            message=message,
        )


def _redeemed(reward: str | None, locale: str) -> str:
    return translate(REWARD_REDEEMED_NAMED, locale, reward=reward) if reward else translate(REWARD_REDEEMED, locale)
