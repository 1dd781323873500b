"""All tables, one file each, on one metadata (`Base.metadata`)."""

from loyalty.models.api_key import ApiKey
from loyalty.models.apple_device_registration import AppleDeviceRegistration
from loyalty.models.base import Base
from loyalty.models.card import LoyaltyCard
from loyalty.models.cooldown_refusal import CooldownRefusal
from loyalty.models.customer import Customer
from loyalty.models.google_wallet_class import GoogleWalletClass
from loyalty.models.google_wallet_object import GoogleWalletObject
from loyalty.models.idempotency_record import IdempotencyRecord
from loyalty.models.order_reference import OrderReference
from loyalty.models.pin_guard import PinGuard
from loyalty.models.program import LoyaltyProgram, ProgramType
from loyalty.models.program_logo import ProgramLogo
from loyalty.models.rate_limit_bucket import RateLimitBucket
from loyalty.models.staff_pin import StaffPin
from loyalty.models.terminal import Terminal
from loyalty.models.transaction import LoyaltyTransaction, TransactionType
from loyalty.models.user import User, UserRole, UserToken, UserTokenPurpose
from loyalty.models.vendor import Vendor
from loyalty.models.vendor_totals import VendorTotals
from loyalty.models.wallet_outbox import OutboxStatus, WalletOutbox
from loyalty.models.web_session import WebSession

__all__ = [
    "ApiKey",
    "AppleDeviceRegistration",
    "Base",
    "CooldownRefusal",
    "Customer",
    "GoogleWalletClass",
    "GoogleWalletObject",
    "IdempotencyRecord",
    "LoyaltyCard",
    "LoyaltyProgram",
    "LoyaltyTransaction",
    "OrderReference",
    "OutboxStatus",
    "PinGuard",
    "ProgramLogo",
    "ProgramType",
    "RateLimitBucket",
    "StaffPin",
    "Terminal",
    "TransactionType",
    "User",
    "UserRole",
    "UserToken",
    "UserTokenPurpose",
    "Vendor",
    "VendorTotals",
    "WalletOutbox",
    "WebSession",
]
