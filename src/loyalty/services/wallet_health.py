"""The platform's wallet health as its admin sees it (PAGES.md, "Platform admin"): the outbox's waiting and
parked updates per provider, the Apple signing certificates' expiry, and Google Wallet's review of each
programme's class. Reads only; a parked update is sent again by `outbox.retry_now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from loyalty.models import GoogleWalletClass, LoyaltyProgram, OutboxStatus, Vendor, WalletOutbox
from loyalty.services.context import Context
from loyalty.wallet.apple.credentials import EXPIRY_WARNING, AppleCredentials


@dataclass(frozen=True)
class ProviderHealth:
    """One provider's outbox (`apple`, `google`, `mail` …): updates waiting to be sent, updates given up
    after failures, and how long the oldest waiting one has been due (seconds; None: none is due)."""

    provider: str
    pending: int
    parked: int
    oldest_pending_seconds: int | None


async def outbox_health(ctx: Context) -> list[ProviderHealth]:
    """Each provider with a pending or parked row, by name. Counts the rows of those two statuses only (the
    sent rows, kept a day, are the bulk and are not read). Raises nothing."""
    pending = WalletOutbox.status == OutboxStatus.PENDING
    rows = await ctx.session.execute(
        select(
            WalletOutbox.provider,
            func.sum(case((pending, 1), else_=0)),
            func.sum(case((pending, 0), else_=1)),
            func.min(case((pending, WalletOutbox.due_at), else_=None)),
        )
        .where(WalletOutbox.status.in_((OutboxStatus.PENDING, OutboxStatus.PARKED)))
        .group_by(WalletOutbox.provider)
        .order_by(WalletOutbox.provider)
    )
    now = ctx.clock.now()
    return [
        ProviderHealth(provider, int(waiting), int(parked), _waited(now, oldest))
        for provider, waiting, parked, oldest in rows
    ]


def _waited(now: datetime, due: datetime | None) -> int | None:
    """Seconds since `due` (0 when it is still ahead), None without one."""
    return None if due is None else max(0, int((now - due).total_seconds()))


@dataclass(frozen=True)
class CertificateExpiry:
    """A certificate's last valid instant, whole days left from now (negative: expired) and whether it
    is within credentials.EXPIRY_WARNING (30 days) of it, or past it."""

    expires_at: datetime
    days_left: int
    renew_soon: bool


@dataclass(frozen=True)
class AppleCertificates:
    """The Pass Type ID certificate that signs every pass, and the WWDR intermediate that issued it."""

    pass_type_identifier: str
    pass_certificate: CertificateExpiry
    wwdr_certificate: CertificateExpiry


def apple_certificates(credentials: AppleCredentials | None, now: datetime) -> AppleCertificates | None:
    """The expiry of the loaded Apple certificates (app.state.apple_passes' credentials, checked at start-up);
    None when Apple Wallet is not configured. Raises nothing."""
    if credentials is None:
        return None
    return AppleCertificates(
        credentials.pass_type_identifier,
        _expiry(credentials.certificate.not_valid_after_utc, now),
        _expiry(credentials.wwdr_certificate.not_valid_after_utc, now),
    )


def _expiry(expires_at: datetime, now: datetime) -> CertificateExpiry:
    left = expires_at - now
    return CertificateExpiry(expires_at, left.days, left <= EXPIRY_WARNING)


@dataclass(frozen=True)
class ClassState:
    """A programme's Google Wallet class as the worker last wrote it: Google's review (`approved`,
    `underReview`, `rejected`, `draft`; None before the first write) and the last error."""

    class_id: str
    vendor_id: int
    vendor_name: str
    program_name: str
    review_status: str | None
    last_error: str | None
    synced_at: datetime | None


async def google_classes(ctx: Context, *, limit: int) -> list[ClassState]:
    """The first `limit` Google Wallet classes, those with an error first, then by vendor. Raises nothing."""
    rows = await ctx.session.execute(
        select(
            GoogleWalletClass.class_id,
            Vendor.id,
            Vendor.name,
            LoyaltyProgram.name,
            GoogleWalletClass.review_status,
            GoogleWalletClass.last_error,
            GoogleWalletClass.synced_at,
        )
        .join(LoyaltyProgram, LoyaltyProgram.id == GoogleWalletClass.program_id)
        .join(Vendor, Vendor.id == LoyaltyProgram.vendor_id)
        .order_by(GoogleWalletClass.last_error.is_(None), Vendor.id)
        .limit(limit)
    )
    return [ClassState(*row) for row in rows]


async def vendor_names(ctx: Context, vendor_ids: set[int]) -> dict[int, str]:
    """Each vendor's name by id, for the rows a page lists. Raises nothing (an unknown id is left out)."""
    if not vendor_ids:
        return {}
    rows = await ctx.session.execute(select(Vendor.id, Vendor.name).where(Vendor.id.in_(vendor_ids)))
    return {vendor_id: name for vendor_id, name in rows}
