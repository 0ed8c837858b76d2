"""Webhook payloads, signatures, the retry schedule and which destinations are allowed. No I/O."""

import base64
import binascii
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, NewType
from urllib.parse import urlsplit
from uuid import UUID

from kit.errors import Conflict, InvalidRequest, NotFound

DeliveryId = NewType("DeliveryId", UUID)
EndpointId = NewType("EndpointId", str)

# What merchants receive (the contract's six events plus payment.captured).
MERCHANT_EVENTS = frozenset(
    {"payment.created", "payment.pending", "payment.success", "payment.failed", "payment.captured",
     "refund.created", "refund.processed", "order.paid"}
)  # fmt: skip
TEST_EVENT = "webhook.test"
# Each event's place in its object's life (ADR 0011): an endpoint receives one object's events
# in this order, and a refund's only once its payment's outcome (PAYMENT_SETTLED) went out. It
# is sent as the `webhook-sequence` header, so a receiver can drop a stale event.
SEQUENCE = {
    "payment.created": 1, "payment.pending": 2, "payment.success": 3, "payment.failed": 3,
    "payment.captured": 4, "refund.created": 1, "refund.processed": 2, "order.paid": 1,
}  # fmt: skip
PAYMENT_SETTLED = SEQUENCE["payment.success"]
MAX_ENDPOINTS = 10  # per merchant, the default endpoint included

PRODUCTION_SCHEDULE = (0, 60, 300, 1800, 7200)  # seconds before attempt 1…5
TEST_SCHEDULE = (0, 5, 10, 15, 20)
MAX_ATTEMPTS = 5
RESPONSE_BODY_LIMIT = 2000

_PAYMENT_FIELDS = ("id", "order_id", "amount", "currency", "method", "vpa", "card_network",
                   "card_last4", "status", "created_at")  # fmt: skip
_ORDER_FIELDS = ("id", "amount", "currency", "receipt", "notes", "status", "created_at")
_REFUND_FIELDS = ("id", "payment_id", "amount", "reason", "status", "created_at", "processed_at")


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryFilter:
    """Which webhook logs a list shows; None: any."""

    payment_id: str | None = None
    endpoint_id: str | None = None
    status: DeliveryStatus | None = None
    event: str | None = None


class EventNotFound(NotFound):
    description = "Event not found"


class InvalidWindow(InvalidRequest):
    description = "The time window's start must be before its end"


class DeliveryNotFound(NotFound):
    description = "Webhook not found"


class InvalidWebhookUrl(InvalidRequest):
    description = "webhook_url must be an absolute http(s) URL without credentials"


class NoWebhookUrl(InvalidRequest):
    description = "No webhook URL is configured"


class EndpointNotFound(NotFound):
    description = "Webhook endpoint not found"


class TooManyEndpoints(Conflict):
    description = f"A merchant has at most {MAX_ENDPOINTS} webhook endpoints; delete one first"


class DefaultEndpointIsKept(InvalidRequest):
    description = "The default endpoint cannot be deleted; set its url to null to stop it"


class UnknownEventType(InvalidRequest):
    description = "event_types may only name events merchants receive: " + ", ".join(
        sorted(MERCHANT_EVENTS)
    )


class UrlRequired(InvalidRequest):
    description = "url is required (only the default endpoint may have none)"


class EndpointUnusable(InvalidRequest):
    description = "The webhook endpoint is disabled or was deleted; enable it first"


Credential = Literal["api_key", "session"]


@dataclass(frozen=True)
class EndpointChange:
    """A change to where webhooks go or how they are signed, and the credential that made it."""

    endpoint_id: str
    change: Literal["created", "url_changed", "secret_rotated", "deleted"]
    url: str | None
    credential: Credential
    previous_url: str | None = None
    changed_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class Endpoint:
    """Where some of a merchant's events go. The default endpoint is the contract's single
    webhook URL (it may have none); the others always have one."""

    id: EndpointId
    merchant_id: UUID
    url: str | None
    secret: str
    is_default: bool = False
    description: str = ""
    event_types: tuple[str, ...] = ()  # empty: every event
    enabled: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    previous_secret: str | None = None  # still signs until previous_secret_expires_at
    previous_secret_expires_at: datetime | None = None
    failing_since: datetime | None = None  # first failed attempt since the last success
    disabled_at: datetime | None = None
    disabled_reason: str | None = None

    def receives(self, event_type: str) -> bool:
        return (
            self.enabled
            and self.url is not None
            and (not self.event_types or event_type in self.event_types)
        )

    def rotated(self, secret: str, now: datetime, overlap: timedelta) -> "Endpoint":
        """A new signing secret; the current one keeps signing too for `overlap` (none: it
        stops at once). A secret still overlapping from an earlier rotation stops now."""
        if overlap > timedelta(0):
            return replace(self, secret=secret, previous_secret=self.secret,
                           previous_secret_expires_at=now + overlap)  # fmt: skip
        return replace(self, secret=secret, previous_secret=None, previous_secret_expires_at=None)

    def failing_too_long(self, now: datetime, limit: timedelta) -> bool:
        return self.enabled and self.failing_since is not None and now - self.failing_since >= limit

    def disabled(self, reason: str, now: datetime) -> "Endpoint":
        return replace(self, enabled=False, disabled_at=now, disabled_reason=reason)

    def reenabled(self) -> "Endpoint":
        """Enabled, with a clean record: it is judged afresh from its next attempt."""
        return replace(
            self, enabled=True, disabled_at=None, disabled_reason=None, failing_since=None
        )

    def missed_since(self) -> datetime | None:
        """Since when a disabled endpoint has not been receiving: its first failure before it
        was disabled, or the disabling."""
        if self.enabled:
            return None
        return self.failing_since or self.disabled_at

    def changed(self, changes: Mapping[str, Any], now: datetime) -> "Endpoint":
        """This endpoint with any of `url`, `description`, `event_types`, `enabled` changed."""
        updated = replace(self, **{k: v for k, v in changes.items() if k in _EDITABLE})
        if "url" in changes:
            updated = replace(updated, url=check_url(changes["url"]))
            if updated.url is None and not self.is_default:
                raise UrlRequired()
        if "event_types" in changes:
            updated = replace(updated, event_types=event_filter(changes["event_types"]))
        if self.enabled and not updated.enabled:
            updated = updated.disabled(DISABLED_BY_MERCHANT, now)
        elif updated.enabled and not self.enabled:
            updated = updated.reenabled()
        return updated


_EDITABLE = frozenset({"url", "description", "event_types", "enabled"})
DISABLED_BY_MERCHANT = "disabled by the merchant"


def failing_reason(failing_since: datetime, limit: timedelta) -> str:
    """Why an endpoint was disabled automatically (shown to the merchant)."""
    return (
        f"every attempt failed since {failing_since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ},"
        f" for more than {_span(limit)}"
    )


def _span(limit: timedelta) -> str:
    if not limit.total_seconds().is_integer():
        return f"{limit.total_seconds():g} seconds"
    seconds = int(limit.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def event_filter(event_types: Sequence[str]) -> tuple[str, ...]:
    """An endpoint's filter: merchant-facing types, each once, in the order given."""
    if any(t not in MERCHANT_EVENTS for t in event_types):
        raise UnknownEventType()
    return tuple(dict.fromkeys(event_types))


@dataclass(frozen=True)
class EventLinks:
    """What an event is about: the object it carries, and the payment and refund its
    deliveries are listed under."""

    object_id: str | None = None
    payment_id: str | None = None
    refund_id: str | None = None
    sequence: int | None = None

    @classmethod
    def of(cls, event_type: str, data: dict[str, Any]) -> "EventLinks":
        sequence = SEQUENCE.get(event_type)
        if event_type.startswith("refund."):
            return cls(data.get("id"), data.get("payment_id"), data.get("id"), sequence)
        if event_type.startswith("order."):
            return cls(data.get("id"), sequence=sequence)
        if event_type.startswith("payment."):
            return cls(data.get("id"), data.get("id"), sequence=sequence)
        return cls()


@dataclass(frozen=True)
class Event:
    """A merchant-facing event as kept: the exact body every delivery of it sends."""

    id: str
    merchant_id: UUID
    type: str
    object_id: str | None
    payment_id: str | None
    refund_id: str | None
    body: str
    received_at: datetime


@dataclass(frozen=True)
class Window:
    """A half-open time range [start, end); either side may be open. Naive times are UTC."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _aware(self.start))
        object.__setattr__(self, "end", _aware(self.end))
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise InvalidWindow()


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Delivery:
    id: DeliveryId
    merchant_id: UUID
    endpoint_id: EndpointId | None  # None once its endpoint was deleted
    event_id: str
    event: str
    payment_id: str | None
    refund_id: str | None
    status: DeliveryStatus
    attempts: int
    last_attempt_at: datetime | None
    next_retry_at: datetime | None
    response_code: int | None
    response_body: str | None
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    """What one POST got back: a response, or the reason there was none.

    `error` is stored and shown to the merchant, so it never names an address we resolved or
    connected to; `detail` (host, addresses, the library's message) is only logged.
    """

    response_code: int | None
    response_body: str | None
    error: str | None
    duration_ms: int
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.response_code is not None and 200 <= self.response_code < 300


STANDARD_KEY_BYTES = 32  # base64: 44 characters, ending in "=", which no older secret has


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` + base64 of random key bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(STANDARD_KEY_BYTES)).decode()


def standard_key(secret: str) -> bytes:
    """The key `webhook-signature` is made with. A secret made since Standard Webhooks support
    (`new_secret`) signs with its decoded bytes, as the standard's libraries verify; older ones
    (`whsec_` + 32 URL-safe characters, and the contract's `whsec_test_abc123`) keep signing with
    their UTF-8 bytes until they are regenerated, so no receiver breaks on an upgrade."""
    encoded = secret.removeprefix("whsec_")
    if len(encoded) == 44 and encoded.endswith("="):
        try:
            return base64.b64decode(encoded, validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def _notes(data: dict[str, Any]) -> dict[str, Any]:
    """A payment's or refund's notes, when it has any: without them the body is exactly the
    contract's."""
    return {"notes": data["notes"]} if data.get("notes") else {}


def webhook_body(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The contract's payload, compact, keys in the contract's order; these exact bytes are signed.

    `{"event", "timestamp" (unix seconds), "data": {"payment"|"refund"|"order": {...}}}`.
    """
    resource: tuple[str, Any]
    if event_type.startswith("order."):
        resource = "order", {k: data.get(k) for k in _ORDER_FIELDS}
    elif event_type.startswith("refund."):
        resource = "refund", {k: data.get(k) for k in _REFUND_FIELDS} | _notes(data)
    elif event_type.startswith("payment."):
        payment = {k: data[k] for k in _PAYMENT_FIELDS if k in data}
        if event_type == "payment.failed":
            payment |= {k: data.get(k) for k in ("error_code", "error_description")}
        if event_type == "payment.captured":
            payment["captured"] = True
        resource = "payment", payment | _notes(data)
    else:
        resource = "message", data.get("message")
    payload = {
        "event": event_type,
        "timestamp": int(occurred_at.timestamp()),
        "data": dict([resource]),
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def signing_secrets(
    secret: str, previous: str | None, previous_expires_at: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The secrets a delivery is signed with now: the current one, then one still overlapping."""
    if previous is not None and previous_expires_at is not None and previous_expires_at > now:
        return (secret, previous)
    return (secret,)


def signature(secret: str, body: str) -> str:
    """`X-Webhook-Signature`: lowercase hex HMAC-SHA256 of the exact body."""
    return hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def standard_signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """One `webhook-signature` value (Standard Webhooks): `v1,` + base64 HMAC-SHA256 of
    `id.timestamp.body` with the secret's `standard_key`."""
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_signatures(secrets: Sequence[str], message_id: str, timestamp: int, body: str) -> str:
    """`webhook-signature` during a rotation's overlap: one value per secret, space-separated;
    receivers accept the request if any of them verifies."""
    return " ".join(standard_signature(s, message_id, timestamp, body) for s in secrets)


@dataclass(frozen=True)
class Schedule:
    """When attempts happen, and how long an endpoint may fail before it is disabled."""

    seconds: tuple[int, ...]
    disable_after: timedelta = timedelta(days=5)

    @classmethod
    def of(cls, test_intervals: bool, disable_after: timedelta = timedelta(days=5)) -> "Schedule":
        return cls(TEST_SCHEDULE if test_intervals else PRODUCTION_SCHEDULE, disable_after)


def after_attempt(
    attempts_before: int, ok: bool, now: datetime, schedule: tuple[int, ...]
) -> tuple[DeliveryStatus, int, datetime | None]:
    """(status, attempts, next_retry_at) after one more attempt."""
    attempts = attempts_before + 1
    if ok:
        return DeliveryStatus.SUCCESS, attempts, None
    if attempts >= MAX_ATTEMPTS:
        return DeliveryStatus.FAILED, attempts, None
    return DeliveryStatus.PENDING, attempts, now + timedelta(seconds=schedule[attempts])


def check_url(url: str | None) -> str | None:
    """The config API's up-front check; destinations are checked again when resolved."""
    if url is None:
        return None
    parts = urlsplit(url)
    if (
        len(url) > 2048
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
    ):
        raise InvalidWebhookUrl()
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise InvalidWebhookUrl() from exc
    return url


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: list[str]) -> list[Network]:
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 prefixes whose last 32 bits are an IPv4 address: NAT64 (well-known, and local-use in its
# /96 layout) and the deprecated IPv4-compatible form (`::a.b.c.d`).
_LAST_32_BITS_IPV4 = parse_networks(["64:ff9b::/96", "64:ff9b:1::/48", "::/96"])


def address_allowed(address: str, allowed: list[Network], nat64: Sequence[Network] = ()) -> bool:
    """Public unicast addresses only (no private, loopback, link-local/metadata, reserved,
    deprecated site-local…), unless an allow-listed network contains the address.

    An IPv6 address that carries an IPv4 one (IPv4-mapped or -compatible, NAT64 by the
    well-known prefixes or by an operator's `nat64` /96 prefixes, 6to4, Teredo's server and
    client) is judged, allow-list included, by the IPv4 address(es) it carries: that is where
    the packet ends up.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return all(any(a in network for network in allowed) or _public(a) for a in _carried(ip, nat64))


def _public(a: Address) -> bool:
    """Global unicast, outside what the standards reserve or deprecated: `is_global` alone still
    passes IPv6 site-local (fec0::/10) and the unassigned reserved blocks."""
    site_local = isinstance(a, ipaddress.IPv6Address) and a.is_site_local
    return a.is_global and not (a.is_multicast or a.is_reserved or site_local)


def _carried(ip: Address, nat64: Sequence[Network] = ()) -> tuple[Address, ...]:
    """The IPv4 address(es) an IPv6 address carries, or the address itself."""
    if isinstance(ip, ipaddress.IPv4Address):
        return (ip,)
    if ip.ipv4_mapped:
        return (ip.ipv4_mapped,)
    if ip.sixtofour:
        return (ip.sixtofour,)
    if ip.teredo:
        return ip.teredo
    if ip.is_loopback or ip.is_unspecified:  # ::1 and :: are not IPv4-compatible addresses
        return (ip,)
    if any(ip in network for network in (*_LAST_32_BITS_IPV4, *nat64)):
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return (ip,)


def truncate(text: str | None, limit: int = RESPONSE_BODY_LIMIT) -> str | None:
    return None if text is None else text[:limit]
