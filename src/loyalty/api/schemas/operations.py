"""Answers of the counter operations (stamp, redeem, earn, spend), each with a localised `message`.

The request bodies are the services' own models (StampRequest, EarnRequest, PointsRedeemRequest,
VoidRequest): one definition of what the counter may send.
"""

from __future__ import annotations

from pydantic import BaseModel

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
    transaction_id: int
    card_id: int
    card_number: str
    stamp_count: int
    stamps_target: int
    stamps_until_reward: int
    reward_earned: bool
    reward_description: str | None
    next_stamp_available_at: Instant | None
    stamps_today: int
    stamps_remaining_today: int
    message: str

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
    transaction_id: int
    card_id: int
    card_number: str
    stamp_count: int
    stamps_target: int
    reward_description: str | None
    total_redemptions: int
    message: str

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
    transaction_id: int
    card_id: int
    card_number: str
    points_delta: int
    points_balance: int
    reward_id: int | None = None
    reward_description: str | None = None
    message: str

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
