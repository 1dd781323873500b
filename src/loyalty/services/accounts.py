"""People who sign in (PAGES.md, "Authentication"): a vendor's owners and managers, invited by a one-time
link, who choose their own password (argon2id through argon2-cffi, at least 10 characters, none of the
30,000 passwords people use most) and sign in with their e-mail.

Nobody sets a password for someone else: the admin's API invites a vendor's first owner and answers the
link once. A sign-in gives the same answer for an unknown e-mail and a wrong password, and costs one
argon2 verification either way, so neither the answer nor its time says whether an account exists.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import EmailStr, Field
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from loyalty.errors import LastOwner, LinkInvalid, PasswordTooWeak, SignInFailed, UserAlreadyExists, UserNotFound
from loyalty.models import User, UserRole, UserToken, UserTokenPurpose
from loyalty.services.bodies import RequestBody
from loyalty.services.cards import normalise_email
from loyalty.services.context import Context
from loyalty.services.vendors import get_vendor
from loyalty.services.web_sessions import hash_token, revoke_user_sessions

PASSWORD_MIN_LENGTH = 10
INVITATION_DAYS = 7
# Wrong sign-ins counted per account and per client address in this window (web/accounts.py); housekeeping
# keeps a rate-limit bucket at least this long.
SIGN_IN_WINDOW_SECONDS = 15 * 60
SIGN_IN_LIMIT_PER_ACCOUNT_AND_ADDRESS = 5  # a guesser at one account from one place
SIGN_IN_LIMIT_PER_ADDRESS = 20  # a guesser at many accounts from one place
# A guesser at one account from many places. Higher than the first: anyone may spend it, and it keeps the
# owner out too until the window ends, so it only bounds a distributed attack.
SIGN_IN_LIMIT_PER_ACCOUNT = 50
# argon2id takes 64 MiB and tens of milliseconds a hash: at most this many at once per process, so a flood of
# sign-ins cannot take the threads and memory the counter's PIN checks need.
_PASSWORD_WORK = asyncio.Semaphore(2)
# argon2-cffi's defaults are RFC 9106's second recommended option (argon2id, 64 MiB, 3 passes).
_hasher = PasswordHasher()


class UserInvite(RequestBody):
    email: EmailStr = Field(description="The person's e-mail: where the invitation goes, and how they sign in.")
    role: Literal["owner", "manager"] = Field(
        description="`owner`: the dashboard, the vendor's users and terminals; `manager`: the dashboard."
    )


@dataclass(frozen=True)
class Invitation:
    user: User
    token: str  # the link's secret: readable only here

    @property
    def path(self) -> str:
        """The page that accepts it: `/vendor/invite/{token}`, or `/admin/invite/{token}` for an admin."""
        return f"/{'admin' if self.user.role == UserRole.ADMIN else 'vendor'}/invite/{self.token}"


async def invite(ctx: Context, vendor_id: int, new: UserInvite) -> Invitation:
    """A new user of the vendor with the role given and no password yet, and its invitation link (valid
    INVITATION_DAYS days, used once). Raises VendorNotFound (404), UserAlreadyExists (409) for an e-mail
    that has an account (of any vendor: one e-mail, one account)."""
    await get_vendor(ctx, vendor_id)
    return await _new_user(ctx, vendor_id, new.email, new.role)


async def create_admin(ctx: Context, email: str) -> Invitation:
    """A new platform admin with no password yet, and the invitation link where they choose it
    (`loyalty users create-admin`: the first admin comes from the command line). Raises
    UserAlreadyExists (409)."""
    return await _new_user(ctx, None, email, UserRole.ADMIN)


async def _new_user(ctx: Context, vendor_id: int | None, email: str, role: str) -> Invitation:
    now = ctx.clock.now()
    user = User(vendor_id=vendor_id, email=email, email_normalised=normalise_email(email), role=role, created_at=now)
    ctx.session.add(user)
    try:
        async with ctx.session.begin_nested():
            await ctx.session.flush()
    except IntegrityError as exc:
        raise UserAlreadyExists() from exc
    return await _invitation(ctx, user)


async def invite_again(ctx: Context, user: User) -> Invitation:
    """A fresh invitation link for a user who has not chosen a password yet (the earlier links stop
    working). Raises nothing."""
    await ctx.session.execute(
        update(UserToken)
        .where(UserToken.user_id == user.id, UserToken.used_at.is_(None))
        .values(used_at=ctx.clock.now())
    )
    return await _invitation(ctx, user)


async def _invitation(ctx: Context, user: User) -> Invitation:
    now = ctx.clock.now()
    token = secrets.token_urlsafe(32)
    ctx.session.add(
        UserToken(
            user_id=user.id,
            token_hash=hash_token(token),
            purpose=UserTokenPurpose.INVITATION,
            created_at=now,
            expires_at=now + timedelta(days=INVITATION_DAYS),
        )
    )
    await ctx.session.flush()
    return Invitation(user, token)


async def invited_user(ctx: Context, token: str) -> User:
    """The user a live invitation link is for. Raises LinkInvalid (400) for a wrong, used or expired link."""
    row = (
        await ctx.session.execute(
            select(User, UserToken)
            .join(UserToken, UserToken.user_id == User.id)
            .where(
                UserToken.token_hash == hash_token(token),
                UserToken.purpose == UserTokenPurpose.INVITATION,
                UserToken.used_at.is_(None),
                UserToken.expires_at > ctx.clock.now(),
                User.removed_at.is_(None),
            )
        )
    ).first()
    if row is None:
        raise LinkInvalid()
    return row[0]


async def accept_invitation(ctx: Context, token: str, password: str) -> User:
    """Sets the invited user's password and uses the link up (a concurrent second acceptance finds it
    used). Raises LinkInvalid (400), PasswordTooWeak (400)."""
    user = await invited_user(ctx, token)
    check_new_password(password, user.email)
    used = await ctx.session.execute(
        update(UserToken)
        .where(UserToken.token_hash == hash_token(token), UserToken.used_at.is_(None))
        .values(used_at=ctx.clock.now())
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkInvalid()
    user.password_hash = await _hash(password)
    user.password_changed_at = ctx.clock.now()
    await ctx.session.flush()
    return user


def check_new_password(password: str, email: str) -> None:
    """PAGES.md's rule: at least 10 characters, not one of the most used passwords (zxcvbn's list of 30,000),
    not the e-mail itself. Raises PasswordTooWeak (400)."""
    lowered = normalise_email(password)  # trimmed, lower-case: as the list and the e-mail are compared
    if len(password) < PASSWORD_MIN_LENGTH or lowered in _common_passwords() or lowered == normalise_email(email):
        raise PasswordTooWeak()


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # 1.6 MB of lists: loaded once, when first needed

    return frozenset(FREQUENCY_LISTS["passwords"])


async def sign_in(ctx: Context, email: str, password: str, roles: tuple[UserRole, ...]) -> User:
    """The active user of one of `roles` with this e-mail and password (its `last_sign_in_at` set). Raises
    SignInFailed (401) for an unknown e-mail, a wrong password, another role or an invitation not yet
    accepted, all alike and after one argon2 verification."""
    user = await ctx.session.scalar(
        select(User).where(User.email_normalised == normalise_email(email), User.removed_at.is_(None))
    )
    stored = user.password_hash if user is not None and user.role in roles else None
    async with _PASSWORD_WORK:
        verified = await asyncio.to_thread(_verifies, stored, password)
    if not verified or user is None:
        raise SignInFailed()
    user.last_sign_in_at = ctx.clock.now()
    if _hasher.check_needs_rehash(user.password_hash or ""):  # the parameters moved on since it was set
        user.password_hash = await _hash(password)
    await ctx.session.flush()
    return user


async def _hash(password: str) -> str:
    async with _PASSWORD_WORK:
        return await asyncio.to_thread(_hasher.hash, password)


@cache
def _no_account() -> str:
    """Verified against when there is no account, so an unknown e-mail costs as long as a wrong password."""
    return _hasher.hash(secrets.token_urlsafe(16))


def _verifies(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _no_account(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


async def change_password(ctx: Context, user_id: int, current: str, new: str, keep_session: int) -> None:
    """The user's new password, once the current one is right; every other session of theirs ends (PAGES.md:
    someone who kept a session elsewhere is out). Raises SignInFailed (401) for a wrong current password,
    PasswordTooWeak (400)."""
    user = await ctx.session.get(User, user_id)
    if user is None or user.removed_at is not None:
        raise SignInFailed()
    async with _PASSWORD_WORK:
        verified = await asyncio.to_thread(_verifies, user.password_hash, current)
    if not verified:
        raise SignInFailed()
    check_new_password(new, user.email)
    user.password_hash = await _hash(new)
    user.password_changed_at = ctx.clock.now()
    await revoke_user_sessions(ctx, user.id, keep=keep_session)
    await ctx.session.flush()


# --- a vendor's users, as its owner manages them --------------------------------------------------


async def vendor_users(ctx: Context) -> list[User]:
    """The calling vendor's users not removed, owners first, then by e-mail. Raises nothing."""
    query = select(User).where(User.vendor_id == ctx.vendor_id, User.removed_at.is_(None))
    return list(await ctx.session.scalars(query.order_by(User.role.desc(), User.email_normalised)))


async def change_role(ctx: Context, user_id: int, role: Literal["owner", "manager"]) -> User:
    """Makes the vendor's user an owner or a manager. Raises UserNotFound (404), LastOwner (409) for the
    vendor's last owner made a manager."""
    user = await _vendor_user(ctx, user_id)
    if user.role == UserRole.OWNER and role != "owner":
        await _keep_an_owner(ctx)
    user.role = role
    await ctx.session.flush()
    return user


async def remove_user(ctx: Context, user_id: int) -> None:
    """Removes the vendor's user: their sessions end at once, their e-mail is free for a new invitation, their
    row stays (what they did stays theirs). Raises UserNotFound (404), LastOwner (409) for the last owner."""
    user = await _vendor_user(ctx, user_id)
    if user.role == UserRole.OWNER:
        await _keep_an_owner(ctx)
    user.removed_at, user.email_normalised = ctx.clock.now(), None
    await revoke_user_sessions(ctx, user.id)
    await ctx.session.flush()


async def _vendor_user(ctx: Context, user_id: int) -> User:
    user = await ctx.session.scalar(
        select(User).where(User.id == user_id, User.vendor_id == ctx.vendor_id, User.removed_at.is_(None))
    )
    if user is None:
        raise UserNotFound(user_id)
    return user


async def _keep_an_owner(ctx: Context) -> None:
    """Raises LastOwner unless the vendor has two owners or more. Their rows are locked first (by id), so
    two owners demoting each other at once cannot both succeed."""
    owners = await ctx.session.scalars(
        select(User.id)
        .where(User.vendor_id == ctx.vendor_id, User.role == UserRole.OWNER, User.removed_at.is_(None))
        .order_by(User.id)
        .with_for_update()
    )
    if len(list(owners)) < 2:
        raise LastOwner()
