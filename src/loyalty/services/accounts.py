"""People who sign in (PAGES.md, "Authentication"): a vendor's owners and managers, invited by a one-time
link, who choose their own password (argon2id through argon2-cffi, at least 10 characters, none of the
30,000 passwords people use most) and sign in with their e-mail.

Nobody sets a password for someone else: the admin's API invites a vendor's first owner and answers the
link once. A sign-in gives the same answer for an unknown e-mail and a wrong password, and costs one
argon2 verification either way, so neither the answer nor its time says whether an account exists.

Invitations and password resets are also e-mailed (PAGES.md, "Mail"): the request queues an outbox row
naming the person and the purpose, and `loyalty worker` makes a fresh one-time link when it sends the mail
(`mail_link`), so no link's secret is ever stored and none is sent inside a request.
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
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError

from loyalty.errors import (
    LastOwner,
    LinkInvalid,
    PasswordTooWeak,
    SignInFailed,
    UserAlreadyExists,
    UserNotFound,
)
from loyalty.models import User, UserRole, UserToken, UserTokenPurpose, Vendor
from loyalty.services import outbox
from loyalty.services.bodies import RequestBody
from loyalty.services.cards import normalise_email
from loyalty.services.context import Context
from loyalty.services.vendors import get_vendor
from loyalty.services.web_sessions import hash_token, revoke_user_sessions

PASSWORD_MIN_LENGTH = 10
INVITATION_DAYS = 7
RESET_HOURS = 1  # a reset link works this long after its mail was made
# "Forgot password" requests counted per address and per account (web/accounts.py), like sign-ins: a mail
# bomb at one person, or a sweep of addresses from one place, stops there.
RESET_LIMIT_PER_ACCOUNT_AND_ADDRESS = 3
RESET_LIMIT_PER_ADDRESS = 20
RESET_LIMIT_PER_ACCOUNT = 10
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
    INVITATION_DAYS days, used once); the link is also e-mailed (a second link of the same invitation, made
    when the mail is sent). Raises VendorNotFound (404), UserAlreadyExists (409) for an e-mail that has an
    account (of any vendor: one e-mail, one account)."""
    await get_vendor(ctx, vendor_id)
    invitation = await _new_user(ctx, vendor_id, new.email, new.role)
    await outbox.queue_user_mail(ctx, invitation.user, UserTokenPurpose.INVITATION)
    return invitation


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
    working), also e-mailed. Raises nothing."""
    await _use_up(ctx, user.id)
    invitation = await _invitation(ctx, user)
    await outbox.queue_user_mail(ctx, user, UserTokenPurpose.INVITATION)
    return invitation


async def invite_vendor_user_again(ctx: Context, user_id: int) -> Invitation | None:
    """`invite_again` for the calling vendor's user `user_id` (the owner's "Invite again"); None, and nothing
    done, for someone who has already chosen a password. Raises UserNotFound (404)."""
    user = await _vendor_user(ctx, user_id)
    if user.password_hash is not None:
        return None
    return await invite_again(ctx, user)


async def _use_up(ctx: Context, user_id: int, purpose: UserTokenPurpose | None = None) -> None:
    """Every live link of the user (of `purpose`, or of both kinds) stops working."""
    query = update(UserToken).where(UserToken.user_id == user_id, UserToken.used_at.is_(None))
    if purpose is not None:
        query = query.where(UserToken.purpose == purpose)
    await ctx.session.execute(query.values(used_at=ctx.clock.now()))


async def _invitation(ctx: Context, user: User) -> Invitation:
    return Invitation(user, await _new_token(ctx, user.id, UserTokenPurpose.INVITATION))


async def _new_token(ctx: Context, user_id: int, purpose: UserTokenPurpose) -> str:
    """A one-time link's secret (256 random bits) for the user, stored as its SHA-256; valid INVITATION_DAYS
    days for an invitation, RESET_HOURS for a reset."""
    now = ctx.clock.now()
    token = secrets.token_urlsafe(32)
    valid = timedelta(days=INVITATION_DAYS) if purpose == UserTokenPurpose.INVITATION else timedelta(hours=RESET_HOURS)
    ctx.session.add(
        UserToken(
            user_id=user_id, token_hash=hash_token(token), purpose=purpose, created_at=now, expires_at=now + valid
        )
    )
    await ctx.session.flush()
    return token


async def invited_user(ctx: Context, token: str) -> User:
    """The user a live invitation link is for: not removed, no password chosen yet (an invitation has two
    links when it was also e-mailed: once either is accepted, the other is useless). Raises LinkInvalid (400)
    for a wrong, used or expired link."""
    return await _linked_user(ctx, token, UserTokenPurpose.INVITATION, User.password_hash.is_(None))


async def reset_user(ctx: Context, token: str) -> User:
    """The user a live password-reset link is for: not removed, with a password. Raises LinkInvalid (400) for
    a wrong, used or expired (RESET_HOURS) link."""
    return await _linked_user(ctx, token, UserTokenPurpose.RESET, User.password_hash.is_not(None))


async def _linked_user(ctx: Context, token: str, purpose: UserTokenPurpose, state: ColumnElement[bool]) -> User:
    row = (
        await ctx.session.execute(
            select(User, UserToken)
            .join(UserToken, UserToken.user_id == User.id)
            .where(
                UserToken.token_hash == hash_token(token),
                UserToken.purpose == purpose,
                UserToken.used_at.is_(None),
                UserToken.expires_at > ctx.clock.now(),
                User.removed_at.is_(None),
                state,
            )
        )
    ).first()
    if row is None:
        raise LinkInvalid()
    return row[0]


async def accept_invitation(ctx: Context, token: str, password: str) -> User:
    """Sets the invited user's password and uses the link up, with every other link of theirs (a concurrent
    second acceptance finds it used). Raises LinkInvalid (400), PasswordTooWeak (400)."""
    user = await invited_user(ctx, token)
    await _set_password_by_link(ctx, user, token, password)
    return user


async def reset_password(ctx: Context, token: str, password: str) -> User:
    """The reset link's user gets `password` (PAGES.md's rule, `check_new_password`); the link and every other
    live link of theirs is used up, and every session of theirs ends (whoever kept one elsewhere is out; the
    caller opens this browser's). Raises LinkInvalid (400), PasswordTooWeak (400)."""
    user = await reset_user(ctx, token)
    await _set_password_by_link(ctx, user, token, password)
    await revoke_user_sessions(ctx, user.id)
    await ctx.session.flush()
    return user


async def _set_password_by_link(ctx: Context, user: User, token: str, password: str) -> None:
    """Checks the new password, uses the link up (raising LinkInvalid when a concurrent request did first),
    then the user's other links, and sets the password."""
    check_new_password(password, user.email)
    used = await ctx.session.execute(
        update(UserToken)
        .where(UserToken.token_hash == hash_token(token), UserToken.used_at.is_(None))
        .values(used_at=ctx.clock.now())
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise LinkInvalid()
    await _use_up(ctx, user.id)
    user.password_hash = await _hash(password)
    user.password_changed_at = ctx.clock.now()
    await ctx.session.flush()


async def request_reset(ctx: Context, email: str) -> None:
    """ "Forgot password": queues a reset mail for the account of `email` if there is one that may sign in
    (not removed, its invitation accepted); nothing otherwise. The caller answers the same either way, and
    nothing is hashed here, so neither the answer nor its time says whether the account exists. Raises
    nothing."""
    user = await ctx.session.scalar(
        select(User).where(User.email_normalised == normalise_email(email), User.removed_at.is_(None))
    )
    if user is not None and user.password_hash is not None:
        await outbox.queue_user_mail(ctx, user, UserTokenPurpose.RESET)


@dataclass(frozen=True)
class MailLink:
    """What a person's mail says: to whom, in which language, for which shop (None: a platform admin), and
    the one-time link's path (`/vendor/invite/{token}`, `/admin/reset/{token}` …)."""

    email: str
    role: str
    vendor: str | None
    locale: str
    path: str


async def mail_link(ctx: Context, user_id: int, purpose: str) -> MailLink | None:
    """For the worker, when it sends a person's mail: a fresh one-time link of `purpose` (`invitation`: a
    second link of the same invitation, valid INVITATION_DAYS; `reset`: valid RESET_HOURS), and who gets it.
    None when the mail has no point any more: the person was removed, accepted the invitation meanwhile, or
    (a reset) has no password. Raises nothing."""
    found = (
        await ctx.session.execute(
            select(User, Vendor.name, Vendor.default_locale)
            .outerjoin(Vendor, Vendor.id == User.vendor_id)
            .where(User.id == user_id, User.removed_at.is_(None))
        )
    ).first()
    if found is None or purpose not in set(UserTokenPurpose):
        return None
    user, vendor, locale = found
    kind = UserTokenPurpose(purpose)
    if (user.password_hash is None) != (kind == UserTokenPurpose.INVITATION):
        return None
    token = await _new_token(ctx, user.id, kind)
    page = "invite" if kind == UserTokenPurpose.INVITATION else "reset"
    area = "admin" if user.role == UserRole.ADMIN else "vendor"
    return MailLink(user.email, user.role, vendor, locale or "en", f"/{area}/{page}/{token}")


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
    await _use_up(ctx, user.id, UserTokenPurpose.RESET)  # a reset link still in an inbox is now pointless
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
