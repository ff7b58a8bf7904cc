"""Customer profiles: attributes as registered, referral codes, and the sign-up and referral
rewards a registration earns."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from .balance import balance_body
from .books import Books, Posting
from .errors import GameballError, customer_not_found
from .retail_bodies import UpsertCustomer

# What GET /integrations/customers/{customerId} shows of the attributes: the spec's
# "minimized, excluding PII" list. Names, contact data and birth dates stay inside.
PUBLIC_ATTRIBUTES = (
    "gender",
    "country",
    "city",
    "zip",
    "custom",
    "source",
    "utms",
    "devices",
    "paymentMethods",
    "totalSpent",
    "lastOrderDate",
    "totalOrders",
)


class Profile(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: str
    gameball_id: int
    email: str | None = None
    mobile: str | None = None
    guest: bool = False
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    referrer_id: str | None = None
    referrer_code: str | None = None
    # Whether the sign-up reward is behind this customer: given once, and never to a customer
    # Gameball first met through a transaction (that customer existed before registering).
    welcomed: bool = False


def referral_code(customer_id: str) -> str:
    """Every customer's own code, stable across resets so demos and tests can rely on it."""
    return hashlib.sha256(customer_id.encode()).hexdigest()[:8].upper()


class Profiles:
    """Who registered with what, beside the points the Books keep for the same customers."""

    def __init__(self, books: Books) -> None:
        self._books = books
        self._profiles: dict[str, Profile] = {}
        self._next_id = 5_000_001

    def find(self, customer_id: str) -> Profile | None:
        """The profile; a customer created by a transaction gets one made on first sight."""
        profile = self._profiles.get(customer_id)
        if profile is None and self._books.accounts.find(customer_id) is not None:
            profile = self._create(customer_id, welcomed=True)
        return profile

    def require(self, customer_id: str) -> Profile:
        profile = self.find(customer_id)
        if profile is None:
            raise customer_not_found(customer_id)
        return profile

    def upsert(self, body: UpsertCustomer) -> dict[str, Any]:
        """Create or update a customer. A registration (a new customer who is not a guest, or
        a guest signing up) earns the welcome points once. A new customer may name an existing
        customer's referralCode (7003 if no customer has it; 7006 for a guest): both then earn
        the referral reward. A referral cannot be added to a customer who already exists
        (7002), but sending the same code again is accepted, so a retried call is harmless."""
        customer_id, code = body.customer_id, (body.referrer_code or "").strip()
        current = self.find(customer_id)
        guest = bool(body.guest)
        referrer: Profile | None = None
        if current is not None:
            if code and (current.referrer_code or "").upper() != code.upper():
                raise GameballError(
                    7002, f"Customer '{customer_id}' exists and cannot be referred."
                )
        elif code:
            if guest:
                raise GameballError(7006, "A guest cannot be referred.")
            referrer = self._referrer(code)
            if referrer is None:
                raise GameballError(7003, f"Referral code '{code}' was not found.")
        base = current or self._create(customer_id, welcomed=False)
        attributes = dict(base.attributes)
        if body.customer_attributes is not None:
            sent: dict[str, Any] = msgspec.to_builtins(body.customer_attributes)
            custom = {**attributes.get("custom", {}), **sent.pop("custom", {})}
            attributes |= sent | ({"custom": custom} if custom else {})
        profile = msgspec.structs.replace(
            base,
            email=body.email or base.email,
            mobile=body.mobile or base.mobile,
            # A registered customer stays registered; a guest is one only while saying so.
            guest=base.guest and guest if current is not None else guest,
            attributes=attributes,
            referrer_id=referrer.customer_id if referrer else base.referrer_id,
            referrer_code=code.upper() if referrer else base.referrer_code,
        )
        self._books.accounts.ensure(customer_id)
        if not profile.guest and not profile.welcomed:
            profile = msgspec.structs.replace(profile, welcomed=True)
            self._reward(customer_id, self._books.programme.welcome_points, "Welcome bonus")
        if referrer is not None:
            programme = self._books.programme
            self._reward(customer_id, programme.friend_points, "Referred by a friend")
            self._reward(referrer.customer_id, programme.referrer_points, "Refer a friend")
        self._profiles[customer_id] = profile
        return {"gameballId": profile.gameball_id}

    def public_body(self, customer_id: str) -> dict[str, Any]:
        """GET /integrations/customers/{customerId}: the spec's CustomerResponse."""
        profile = self.require(customer_id)
        attributes = {k: v for k, v in profile.attributes.items() if k in PUBLIC_ATTRIBUTES}
        methods = attributes.get("paymentMethods")
        if methods is not None and not all(isinstance(m, str) for m in methods):
            del attributes["paymentMethods"]  # the answer's schema allows strings only
        body: dict[str, Any] = {
            "gameballId": profile.gameball_id,
            "customerId": profile.customer_id,
            "customerAttributes": attributes,
            "isReferred": profile.referrer_id is not None,
        }
        if not profile.guest:
            body["referralCode"] = referral_code(customer_id)
        return body

    def control_body(self, customer_id: str) -> dict[str, Any]:
        """Everything kept about a customer, for tests: the control API's view."""
        profile = self.require(customer_id)
        accounts = self._books.accounts
        return {
            "customerId": customer_id,
            "gameballId": profile.gameball_id,
            "email": profile.email,
            "mobile": profile.mobile,
            "guest": profile.guest,
            "customerAttributes": profile.attributes,
            "referralCode": None if profile.guest else referral_code(customer_id),
            "referredBy": profile.referrer_id,
            "referrerCode": profile.referrer_code,
            "welcomed": profile.welcomed,
            "tier": accounts.tier(customer_id).name,
            "balance": balance_body(accounts, customer_id),
        }

    def _create(self, customer_id: str, *, welcomed: bool) -> Profile:
        profile = Profile(customer_id=customer_id, gameball_id=self._next_id, welcomed=welcomed)
        self._next_id += 1
        self._profiles[customer_id] = profile
        return profile

    def _referrer(self, code: str) -> Profile | None:
        wanted = code.upper()
        for customer_id in self._books.accounts.ids():
            if referral_code(customer_id) == wanted:
                profile = self.find(customer_id)
                return profile if profile is not None and not profile.guest else None
        return None

    def _reward(self, customer_id: str, points: int, campaign: str) -> None:
        if points <= 0:
            return
        posting = Posting(
            transaction_id=None,
            customer_id=customer_id,
            transaction_time=self._books.now_iso(),
            achievement_name=campaign,
            achievement_type="referral" if "friend" in campaign else "welcome",
        )
        self._books.earn(posting, points, 0.0, kind="AchievementReward")
