"""Domain errors: each carries its `error_code`, HTTP status, details and a translatable message.

    LoyaltyError
    ├── BadRequest (400)        ProgramInactive, CardInactive, CustomerErased, StampsNotEnabled,
    │                           PointsNotEnabled,
    │                           InsufficientStamps, InsufficientPoints, InvalidReward, TransactionNotVoidable,
    │                           MalformedBody, ClientGone, PushTokenMissing, PairingCodeInvalid,
    │                           LinkInvalid, PasswordTooWeak
    ├── Unauthenticated (401)   TerminalNotPaired, SignInFailed
    ├── Forbidden (403)         VendorSwitchedOff, StaffPinRequired, InvalidStaffPin, CsrfTokenInvalid
    ├── NotFound (404)          ProgramNotFound, CardNotFound, StaffPinNotFound, VendorNotFound,
    │                           TransactionNotFound, ApiKeyNotFound, CustomerNotFound, RouteNotFound,
    │                           OutboxRowNotFound, TerminalNotFound, UserNotFound
    ├── MethodNotAllowed (405)
    ├── RequestTimeout (408)
    ├── Conflict (409)          ProgramAlreadyExists, CardAlreadyExists, VendorAlreadyExists,
    │                           StaffPinAlreadyExists, IdempotencyKeyReused, LastAdminKey,
    │                           OrderAlreadyEarned, UserAlreadyExists, LastOwner
    ├── PayloadTooLarge (413)   DeviceLogTooLarge
    ├── UnsupportedMediaType (415)
    ├── ValidationFailed (422)
    ├── StaffPinLocked (423)
    ├── TooManyRequests (429)   StampCooldown, DailyStampLimit, RateLimited
    ├── HeadersTooLarge (431)
    ├── InternalError (500)
    └── ServiceUnavailable (503) DatabaseUnavailable, WalletNotConfigured

`ErrorCode` is the closed set of codes: a class's `error_code` is one of its members (checked when the
class is defined, and by mypy), and each member is the code of exactly one class
(`tests/test_architecture.py`). The bases that only group a status (LoyaltyError, BadRequest,
NotFound, Conflict, TooManyRequests) have no code and cannot be raised: each 404 names what is not
found (`ApiKeyNotFound` is `API_KEY_NOT_FOUND`, an unknown route `ROUTE_NOT_FOUND`, an unknown customer
`NOT_FOUND`, the contract's name for it), so a client never mistakes one for another. A subclass of a
class with a code keeps that code only where it refines the same answer: `DatabaseUnavailable` is a
`SERVICE_UNAVAILABLE` whose `reason` goes to the log.

Services raise these; the API renders every one of them through a single handler
(`api/errors.py`) as `{"error_code", "message", "details"}`, and lists each route's codes in
/openapi.json (`api/error_responses.py`). The message is an English msgid with `{placeholders}`
filled from `message_params`, translated at render time.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from loyalty.i18n import N_, NP_, Message, translate


class ErrorCode(StrEnum):
    """Every `error_code` the API answers. Codes are added, never renamed or dropped (docs/api.md)."""

    # 400
    LOYALTY_PROGRAM_INACTIVE = "LOYALTY_PROGRAM_INACTIVE"
    LOYALTY_CARD_INACTIVE = "LOYALTY_CARD_INACTIVE"
    CUSTOMER_ERASED = "CUSTOMER_ERASED"
    STAMPS_NOT_ENABLED = "STAMPS_NOT_ENABLED"
    POINTS_NOT_ENABLED = "POINTS_NOT_ENABLED"
    INSUFFICIENT_STAMPS = "INSUFFICIENT_STAMPS"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    INVALID_REWARD = "INVALID_REWARD"
    TRANSACTION_NOT_VOIDABLE = "TRANSACTION_NOT_VOIDABLE"
    MALFORMED_BODY = "MALFORMED_BODY"
    CLIENT_DISCONNECTED = "CLIENT_DISCONNECTED"
    PUSH_TOKEN_MISSING = "PUSH_TOKEN_MISSING"
    PAIRING_CODE_INVALID = "PAIRING_CODE_INVALID"
    LINK_INVALID = "LINK_INVALID"
    PASSWORD_TOO_WEAK = "PASSWORD_TOO_WEAK"
    # 401, 403
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    STAFF_PIN_REQUIRED = "STAFF_PIN_REQUIRED"
    INVALID_STAFF_PIN = "INVALID_STAFF_PIN"
    TERMINAL_NOT_PAIRED = "TERMINAL_NOT_PAIRED"
    SIGN_IN_FAILED = "SIGN_IN_FAILED"
    CSRF_TOKEN_INVALID = "CSRF_TOKEN_INVALID"
    # 404
    LOYALTY_PROGRAM_NOT_FOUND = "LOYALTY_PROGRAM_NOT_FOUND"
    LOYALTY_CARD_NOT_FOUND = "LOYALTY_CARD_NOT_FOUND"
    STAFF_PIN_NOT_FOUND = "STAFF_PIN_NOT_FOUND"
    VENDOR_NOT_FOUND = "VENDOR_NOT_FOUND"
    TRANSACTION_NOT_FOUND = "TRANSACTION_NOT_FOUND"
    API_KEY_NOT_FOUND = "API_KEY_NOT_FOUND"
    NOT_FOUND = "NOT_FOUND"
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    OUTBOX_ROW_NOT_FOUND = "OUTBOX_ROW_NOT_FOUND"
    TERMINAL_NOT_FOUND = "TERMINAL_NOT_FOUND"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    # 405, 408
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    # 409
    LOYALTY_PROGRAM_ALREADY_EXISTS = "LOYALTY_PROGRAM_ALREADY_EXISTS"
    LOYALTY_CARD_ALREADY_EXISTS = "LOYALTY_CARD_ALREADY_EXISTS"
    VENDOR_ALREADY_EXISTS = "VENDOR_ALREADY_EXISTS"
    STAFF_PIN_ALREADY_EXISTS = "STAFF_PIN_ALREADY_EXISTS"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    ORDER_ALREADY_EARNED = "ORDER_ALREADY_EARNED"
    LAST_ADMIN_KEY = "LAST_ADMIN_KEY"
    USER_ALREADY_EXISTS = "USER_ALREADY_EXISTS"
    LAST_OWNER = "LAST_OWNER"
    # 413, 415, 422, 423
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    DEVICE_LOG_TOO_LARGE = "DEVICE_LOG_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    STAFF_PIN_LOCKED = "STAFF_PIN_LOCKED"
    # 429, 431
    STAMP_COOLDOWN = "STAMP_COOLDOWN"
    DAILY_STAMP_LIMIT = "DAILY_STAMP_LIMIT"
    RATE_LIMITED = "RATE_LIMITED"
    REQUEST_HEADER_FIELDS_TOO_LARGE = "REQUEST_HEADER_FIELDS_TOO_LARGE"
    # 500, 503
    INTERNAL_ERROR = "INTERNAL_ERROR"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    WALLET_NOT_CONFIGURED = "WALLET_NOT_CONFIGURED"


class LoyaltyError(Exception):
    """The root of the tree; with its grouping bases, abstract: only a class with a code is raised."""

    status_code: ClassVar[int]
    error_code: ClassVar[ErrorCode]
    message: ClassVar[Message]
    # Whether the answer closes the connection: after a request whose body was not read to its end.
    closes_connection: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        code = vars(cls).get("error_code")
        if code is not None and not isinstance(code, ErrorCode):
            raise TypeError(f"{cls.__name__}.error_code {code!r} is not an ErrorCode member")

    def __init__(self, details: dict[str, Any] | None = None, **message_params: Any) -> None:
        if not hasattr(self, "error_code"):
            raise TypeError(f"{type(self).__name__} has no error code: raise one of its subclasses")
        self.details: dict[str, Any] = details or {}
        self.message_params = message_params
        super().__init__(f"{self.error_code}: {self.message}")

    @property
    def retry_after_seconds(self) -> int | None:
        return None

    def localised_message(self, locale: str | None) -> str:
        return translate(self.message, locale, **self.message_params)


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(1, math.ceil((moment - now).total_seconds()))


# --- 400 -------------------------------------------------------------------------------------------


class BadRequest(LoyaltyError):
    status_code = 400


class ClientGone(BadRequest):
    """The client went away while sending its body: no one reads this answer, which only the
    request log records."""

    error_code = ErrorCode.CLIENT_DISCONNECTED
    message = N_("The client disconnected before sending the whole request body")
    closes_connection = True


class MalformedBody(BadRequest):
    """FastAPI could not parse the body it was given as JSON (nested too deep to decode, say): its own
    400 refusal, answered with a code of its own. A syntax error is a 422 VALIDATION_ERROR instead,
    which says where."""

    error_code = ErrorCode.MALFORMED_BODY
    message = N_("The request body could not be parsed")


class PushTokenMissing(BadRequest):
    """A PassKit registration without its `pushToken` (WALLET.md: 400)."""

    error_code = ErrorCode.PUSH_TOKEN_MISSING
    message = N_("The registration has no pushToken")


class PairingCodeInvalid(BadRequest):
    """A pairing code that no terminal waits for: wrong, used, expired, or its terminal revoked. One answer
    for all four, so the page tells a guesser nothing."""

    error_code = ErrorCode.PAIRING_CODE_INVALID
    message = N_("This pairing code is wrong or has expired")


class LinkInvalid(BadRequest):
    """A one-time link (an invitation, a password reset) that is wrong, used or expired: one answer for all."""

    error_code = ErrorCode.LINK_INVALID
    message = N_("This link is wrong, was used already or has expired")


class PasswordTooWeak(BadRequest):
    """A new password shorter than 10 characters, or one of the passwords people use most (PAGES.md)."""

    error_code = ErrorCode.PASSWORD_TOO_WEAK
    message = N_("Choose a password of at least 10 characters that is not a common one")


class ProgramInactive(BadRequest):
    error_code = ErrorCode.LOYALTY_PROGRAM_INACTIVE
    message = N_("This loyalty programme is not active")

    def __init__(self, program_id: int) -> None:
        super().__init__({"program_id": program_id})


class CardInactive(BadRequest):
    error_code = ErrorCode.LOYALTY_CARD_INACTIVE
    message = N_("This loyalty card is deactivated")

    def __init__(self, card_id: int) -> None:
        super().__init__({"card_id": card_id})


class CustomerErased(BadRequest):
    error_code = ErrorCode.CUSTOMER_ERASED
    message = N_("This card's customer has been erased; the card cannot be used again")

    def __init__(self, card_id: int) -> None:
        super().__init__({"card_id": card_id})


class StampsNotEnabled(BadRequest):
    error_code = ErrorCode.STAMPS_NOT_ENABLED
    message = N_("This programme does not collect stamps")

    def __init__(self, program_id: int) -> None:
        super().__init__({"program_id": program_id})


class PointsNotEnabled(BadRequest):
    error_code = ErrorCode.POINTS_NOT_ENABLED
    message = N_("This programme does not collect points")

    def __init__(self, program_id: int) -> None:
        super().__init__({"program_id": program_id})


class InsufficientStamps(BadRequest):
    error_code = ErrorCode.INSUFFICIENT_STAMPS
    message = NP_(
        "Not enough stamps: {current} of {required} stamp",
        "Not enough stamps: {current} of {required} stamps",
        count="required",
    )

    def __init__(self, current: int, required: int) -> None:
        super().__init__({"current_stamps": current, "required_stamps": required}, current=current, required=required)


class InsufficientPoints(BadRequest):
    error_code = ErrorCode.INSUFFICIENT_POINTS
    message = NP_(
        "Not enough points: {current} of {required} point",
        "Not enough points: {current} of {required} points",
        count="required",
    )

    def __init__(self, current: int, required: int) -> None:
        super().__init__({"current_points": current, "required_points": required}, current=current, required=required)


class InvalidReward(BadRequest):
    error_code = ErrorCode.INVALID_REWARD
    message = N_("This reward is not in the programme's catalogue")

    def __init__(self, reward_id: object) -> None:
        super().__init__({"reward_id": reward_id})


class TransactionNotVoidable(BadRequest):
    error_code = ErrorCode.TRANSACTION_NOT_VOIDABLE
    message = N_("This transaction cannot be voided")

    ALREADY_VOIDED = "already_voided"
    IS_VOID = "is_void"
    NEGATIVE_BALANCE = "negative_balance"

    def __init__(self, transaction_id: int, reason: str) -> None:
        super().__init__({"transaction_id": transaction_id, "reason": reason})


# --- 401 / 403 / 405 / 408 ------------------------------------------------------------------------


class Unauthenticated(LoyaltyError):
    status_code = 401
    error_code = ErrorCode.UNAUTHENTICATED
    message = N_("A valid API key is required")


class Forbidden(LoyaltyError):
    status_code = 403
    error_code = ErrorCode.FORBIDDEN
    message = N_("This API key cannot call this endpoint")


class VendorSwitchedOff(Forbidden):
    """The platform's admin switched the vendor off (`POST /admin/loyalty/vendors/{id}/deactivate`): its keys,
    its people's sessions and its terminals are refused until it is switched on. 403 `FORBIDDEN` with `reason`
    `vendor_inactive` (API.md), and a message that says so, for the pages that show it."""

    message = N_("This shop is switched off on the platform; its administrator can switch it on again")

    def __init__(self) -> None:
        super().__init__({"reason": "vendor_inactive"})


class TerminalNotPaired(Unauthenticated):
    """A counter request from a browser that holds no live terminal session: never paired, revoked by
    the vendor, or unused for 90 days. The page sends it back to `/terminal/pair`."""

    error_code = ErrorCode.TERMINAL_NOT_PAIRED
    message = N_("This browser is not a paired counter terminal: pair it again")


class SignInFailed(Unauthenticated):
    """A sign-in refused: the same answer for an unknown e-mail and a wrong password (no enumeration)."""

    error_code = ErrorCode.SIGN_IN_FAILED
    message = N_("Wrong e-mail or password")


class CsrfTokenInvalid(Forbidden):
    """A browser's write without its session's CSRF token, or from another origin (PAGES.md, "Sessions")."""

    error_code = ErrorCode.CSRF_TOKEN_INVALID
    message = N_("This form has expired: reload the page and try again")


class StaffPinRequired(Forbidden):
    error_code = ErrorCode.STAFF_PIN_REQUIRED
    message = N_("A staff PIN is required")


class InvalidStaffPin(Forbidden):
    error_code = ErrorCode.INVALID_STAFF_PIN
    message = N_("Wrong staff PIN")

    def __init__(self, remaining_attempts: int) -> None:
        super().__init__({"remaining_attempts": remaining_attempts})


class MethodNotAllowed(LoyaltyError):
    status_code = 405
    error_code = ErrorCode.METHOD_NOT_ALLOWED
    message = N_("This method is not allowed here")


class RequestTimeout(LoyaltyError):
    status_code = 408
    error_code = ErrorCode.REQUEST_TIMEOUT
    message = N_("The request body did not arrive in time")
    closes_connection = True

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__({"timeout_seconds": timeout_seconds})


# --- 404 -------------------------------------------------------------------------------------------


class NotFound(LoyaltyError):
    """Each subclass names what is not found, with a code of its own (the module's docstring)."""

    status_code = 404

    def __init__(self, identifier: object = None) -> None:
        super().__init__({"identifier": identifier} if identifier is not None else {})


class ProgramNotFound(NotFound):
    error_code = ErrorCode.LOYALTY_PROGRAM_NOT_FOUND
    message = N_("Loyalty programme not found")


class CardNotFound(NotFound):
    error_code = ErrorCode.LOYALTY_CARD_NOT_FOUND
    message = N_("Loyalty card not found")


class OutboxRowNotFound(NotFound):
    """No wallet outbox row of that id waits or is parked (a sent row cannot be retried)."""

    error_code = ErrorCode.OUTBOX_ROW_NOT_FOUND
    message = N_("Wallet update not found")


class StaffPinNotFound(NotFound):
    error_code = ErrorCode.STAFF_PIN_NOT_FOUND
    message = N_("Staff PIN not found")


class TerminalNotFound(NotFound):
    error_code = ErrorCode.TERMINAL_NOT_FOUND
    message = N_("Terminal not found")


class UserNotFound(NotFound):
    error_code = ErrorCode.USER_NOT_FOUND
    message = N_("User not found")


class VendorNotFound(NotFound):
    error_code = ErrorCode.VENDOR_NOT_FOUND
    message = N_("Vendor not found")


class TransactionNotFound(NotFound):
    error_code = ErrorCode.TRANSACTION_NOT_FOUND
    message = N_("Transaction not found")


class ApiKeyNotFound(NotFound):
    error_code = ErrorCode.API_KEY_NOT_FOUND
    message = N_("API key not found")


class CustomerNotFound(NotFound):
    """`NOT_FOUND`: the contract's code for the one resource it gave no name of its own; kept stable."""

    error_code = ErrorCode.NOT_FOUND
    message = N_("Customer not found")


class RouteNotFound(NotFound):
    """No route serves this path (its `identifier`): a client never reads a wrong URL as a resource gone."""

    error_code = ErrorCode.ROUTE_NOT_FOUND
    message = N_("No route serves this path")


# --- 409 -------------------------------------------------------------------------------------------


class Conflict(LoyaltyError):
    status_code = 409


class ProgramAlreadyExists(Conflict):
    error_code = ErrorCode.LOYALTY_PROGRAM_ALREADY_EXISTS
    message = N_("This vendor already has a loyalty programme")

    def __init__(self, vendor_id: int) -> None:
        super().__init__({"vendor_id": vendor_id})


class CardAlreadyExists(Conflict):
    """Without details to the public: enrolment must not reveal anything about the existing card. The
    vendor, enrolling at its own counter, is told which card it is (`card_id`, `card_number`)."""

    error_code = ErrorCode.LOYALTY_CARD_ALREADY_EXISTS
    message = N_("This e-mail address already has a card in this programme")

    def __init__(self, card_id: int | None = None, card_number: str | None = None) -> None:
        super().__init__({"card_id": card_id, "card_number": card_number} if card_id is not None else {})


class VendorAlreadyExists(Conflict):
    error_code = ErrorCode.VENDOR_ALREADY_EXISTS
    message = N_("A vendor with this slug already exists")


class UserAlreadyExists(Conflict):
    error_code = ErrorCode.USER_ALREADY_EXISTS
    message = N_("A user with this e-mail already exists")


class LastOwner(Conflict):
    """A change that would leave a shop with no owner: nobody could then manage its users and terminals."""

    error_code = ErrorCode.LAST_OWNER
    message = N_("A shop keeps at least one owner")


class StaffPinAlreadyExists(Conflict):
    error_code = ErrorCode.STAFF_PIN_ALREADY_EXISTS
    message = N_("This PIN is already used in this programme")


class IdempotencyKeyReused(Conflict):
    error_code = ErrorCode.IDEMPOTENCY_KEY_REUSED
    message = N_("This Idempotency-Key was already used with a different request")


class OrderAlreadyEarned(Conflict):
    """A till receipt earns points once per vendor: `transaction_id` is the entry that did (void it to
    free the receipt)."""

    error_code = ErrorCode.ORDER_ALREADY_EARNED
    message = N_("This receipt has already earned points")

    def __init__(self, order_reference: str, transaction_id: int) -> None:
        super().__init__({"order_reference": order_reference, "transaction_id": transaction_id})


class LastAdminKey(Conflict):
    error_code = ErrorCode.LAST_ADMIN_KEY
    message = N_("The last active admin key cannot be revoked; create another one first")


# --- 413 / 415 / 422 / 423 / 429 / 431 -------------------------------------------------------------


class PayloadTooLarge(LoyaltyError):
    status_code = 413
    error_code = ErrorCode.PAYLOAD_TOO_LARGE
    message: ClassVar[Message] = N_("The request body is too large")
    closes_connection = True

    def __init__(self, max_bytes: int) -> None:
        super().__init__({"max_bytes": max_bytes})


class DeviceLogTooLarge(PayloadTooLarge):
    """A Wallet device log past its bounds (WALLET.md: at most 100 entries of at most 1 KiB). The body
    was read whole, so the connection stays open."""

    error_code = ErrorCode.DEVICE_LOG_TOO_LARGE
    message = NP_(
        "A device log holds at most {most_entries} entry of at most {most_entry_bytes} bytes",
        "A device log holds at most {most_entries} entries of at most {most_entry_bytes} bytes each",
        count="most_entries",
    )
    closes_connection = False

    def __init__(self, most_entries: int, most_entry_bytes: int) -> None:
        LoyaltyError.__init__(
            self,
            {"max_entries": most_entries, "max_entry_bytes": most_entry_bytes},
            most_entries=most_entries,
            most_entry_bytes=most_entry_bytes,
        )


class UnsupportedMediaType(LoyaltyError):
    """A body sent in a format the route does not read (RFC 9110, 15.5.16): every body is JSON."""

    status_code = 415
    error_code = ErrorCode.UNSUPPORTED_MEDIA_TYPE
    message = N_("The request body must be JSON (Content-Type: application/json)")

    def __init__(self, expected: str) -> None:
        super().__init__({"expected": expected})


class ValidationFailed(LoyaltyError):
    status_code = 422
    error_code = ErrorCode.VALIDATION_ERROR
    message = N_("The request is not valid")

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__({"errors": errors})


class StaffPinLocked(LoyaltyError):
    status_code = 423
    error_code = ErrorCode.STAFF_PIN_LOCKED
    message = N_("Too many wrong PINs: please try again later")

    TERMINAL = "terminal"
    STAFF_PIN = "staff_pin"

    def __init__(self, locked_until: datetime, lock: str, staff_pin_id: int | None = None) -> None:
        """`lock`: what is locked, this terminal (its API key, after wrong PINs sent without
        `staff_pin_id`) or one staff PIN; the vendor lifts either with `POST /pins/{id}/unlock`."""
        # The exact end is in details (UTC); the message stays free of a timezone staff would misread.
        details: dict[str, Any] = {"locked_until": _iso(locked_until), "lock": lock}
        if staff_pin_id is not None:
            details["staff_pin_id"] = staff_pin_id
        super().__init__(details)


class TooManyRequests(LoyaltyError):
    status_code = 429

    def __init__(self, details: dict[str, Any], retry_after: int, **message_params: Any) -> None:
        super().__init__(details, **message_params)
        self._retry_after = retry_after

    @property
    def retry_after_seconds(self) -> int:
        return self._retry_after


class StampCooldown(TooManyRequests):
    error_code = ErrorCode.STAMP_COOLDOWN
    message = NP_(
        "Please wait {minutes} minute between stamps",
        "Please wait {minutes} minutes between stamps",
        count="minutes",
    )

    def __init__(self, cooldown_ends: datetime, cooldown_minutes: int, now: datetime) -> None:
        super().__init__(
            {"cooldown_ends": _iso(cooldown_ends), "cooldown_minutes": cooldown_minutes},
            _seconds_until(cooldown_ends, now),
            minutes=cooldown_minutes,
        )


class DailyStampLimit(TooManyRequests):
    error_code = ErrorCode.DAILY_STAMP_LIMIT
    message = NP_(
        "Daily stamp limit reached: {limit} stamp per day",
        "Daily stamp limit reached: {limit} stamps per day",
        count="limit",
    )

    def __init__(self, max_daily_stamps: int, stamps_today: int, resets_at: datetime, now: datetime) -> None:
        super().__init__(
            {
                "max_daily_stamps": max_daily_stamps,
                "stamps_today": stamps_today,
                "resets_at": _iso(resets_at),
            },
            _seconds_until(resets_at, now),
            limit=max_daily_stamps,
        )


class RateLimited(TooManyRequests):
    error_code = ErrorCode.RATE_LIMITED
    message = N_("Too many requests, please try again later")

    def __init__(self, retry_after: int) -> None:
        super().__init__({}, retry_after)


class HeadersTooLarge(LoyaltyError):
    status_code = 431
    error_code = ErrorCode.REQUEST_HEADER_FIELDS_TOO_LARGE
    message = N_("The request headers are too large")
    closes_connection = True

    def __init__(self, max_bytes: int, max_headers: int) -> None:
        super().__init__({"max_bytes": max_bytes, "max_headers": max_headers})


# --- 500 / 503 -------------------------------------------------------------------------------------


class InternalError(LoyaltyError):
    """Our failure, not the request's: `details.request_id` finds the one logged traceback."""

    status_code = 500
    error_code = ErrorCode.INTERNAL_ERROR
    message = N_("Something went wrong on our side; please try again")

    def __init__(self, request_id: str | None) -> None:
        super().__init__({"request_id": request_id})


class ServiceUnavailable(LoyaltyError):
    """The service cannot answer now, through no fault of the request: try again after Retry-After."""

    status_code = 503
    error_code = ErrorCode.SERVICE_UNAVAILABLE
    message = N_("The service is busy or briefly unavailable; please try again in a moment")
    retry_after: ClassVar[int] = 1

    @property
    def retry_after_seconds(self) -> int:
        return self.retry_after


class WalletNotConfigured(ServiceUnavailable):
    """The platform has not configured this wallet (`wallet`: "apple" or "google"). The client did
    nothing wrong, hence 503 and not 400 (WALLET.md); it lasts until an operator configures it."""

    error_code = ErrorCode.WALLET_NOT_CONFIGURED
    message = N_("This wallet is not available on this service")
    retry_after = 3600

    def __init__(self, wallet: str) -> None:
        super().__init__({"wallet": wallet})


class DatabaseUnavailable(ServiceUnavailable):
    """No database connection within the bounded wait (`reason` "busy": every pooled connection is in
    use), none could be made ("unreachable"), or it was lost mid-request ("lost"). Nothing the request
    meant to write was committed, unless the connection was lost during COMMIT itself: a client that
    retries with the same Idempotency-Key gets the first answer in that case (API.md)."""

    BUSY = "busy"
    UNREACHABLE = "unreachable"
    LOST = "lost"

    def __init__(self, reason: str, cause: str | None = None) -> None:
        super().__init__()
        self.reason = reason
        self.cause = cause  # for the log: the driver's error class and SQLSTATE, never its text

    @property
    def retry_after_seconds(self) -> int:
        # A database that cannot be reached is restarting or failing over: seconds, not a moment.
        return 5 if self.reason == self.UNREACHABLE else self.retry_after
