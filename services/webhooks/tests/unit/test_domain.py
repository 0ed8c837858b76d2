import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args
from uuid import uuid4

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from webhooks.domain import (
    MERCHANT_EVENTS,
    PRODUCTION_SCHEDULE,
    TEST_SCHEDULE,
    DeliveryStatus,
    Endpoint,
    EndpointId,
    InvalidWebhookUrl,
    UnknownEventType,
    address_allowed,
    after_attempt,
    check_url,
    event_filter,
    failing_reason,
    new_secret,
    parse_networks,
    signature,
    signing_secrets,
    standard_signature,
    standard_signatures,
    webhook_body,
)
from webhooks.schemas import EventType

SPEC_BODY = (
    '{"event":"payment.success","timestamp":1705315870,"data":{"payment":{"id":"pay_H8sK3jD9s2L1pQr",'
    '"order_id":"order_NXhj67fGH2jk9mPq","amount":50000,"currency":"INR","method":"upi",'
    '"vpa":"user@paytm","status":"success","created_at":"2024-01-15T10:31:00Z"}}}'
)
PAYMENT = {  # as payment events carry it (the full GET view)
    "id": "pay_H8sK3jD9s2L1pQr",
    "order_id": "order_NXhj67fGH2jk9mPq",
    "amount": 50000,
    "currency": "INR",
    "method": "upi",
    "vpa": "user@paytm",
    "status": "success",
    "captured": False,
    "error_code": None,
    "error_description": None,
    "amount_refunded": 0,
    "created_at": "2024-01-15T10:31:00Z",
    "updated_at": "2024-01-15T10:31:05Z",
}
AT = datetime.fromtimestamp(1705315870, UTC)


def test_payment_body_is_the_contracts_example_byte_for_byte() -> None:
    assert webhook_body("payment.success", AT, PAYMENT) == SPEC_BODY


def test_notes_go_out_only_when_the_merchant_set_some() -> None:
    assert webhook_body("payment.success", AT, PAYMENT | {"notes": {}}) == SPEC_BODY
    noted = json.loads(webhook_body("payment.success", AT, PAYMENT | {"notes": {"cart": "c-9"}}))
    assert noted["data"]["payment"]["notes"] == {"cart": "c-9"}
    refund = {"id": "rfnd_1", "payment_id": "pay_1", "amount": 1, "reason": None,
              "status": "processed", "created_at": "x", "processed_at": "y"}  # fmt: skip
    body = json.loads(webhook_body("refund.processed", AT, refund | {"notes": {"n": 1}}))
    assert body["data"]["refund"]["notes"] == {"n": 1}
    plain = json.loads(webhook_body("refund.processed", AT, refund | {"notes": {}}))
    assert "notes" not in plain["data"]["refund"]


def test_card_payment_and_refund_bodies() -> None:
    card = {**PAYMENT, "method": "card", "card_network": "visa", "card_last4": "1111"}
    del card["vpa"]
    assert '"method":"card","card_network":"visa","card_last4":"1111","status"' in webhook_body(
        "payment.success", AT, card
    )
    failed = webhook_body(
        "payment.failed",
        AT,
        {**PAYMENT, "status": "failed", "error_code": "PAYMENT_FAILED", "error_description": "No"},
    )
    assert failed.endswith('"error_code":"PAYMENT_FAILED","error_description":"No"}}}')
    refund = {
        "id": "rfnd_1",
        "payment_id": "pay_1",
        "amount": 100,
        "reason": "r",
        "status": "processed",
        "created_at": "2024-01-15T10:33:00Z",
        "processed_at": "2024-01-15T10:33:05Z",
        "extra": 1,
    }
    assert webhook_body("refund.processed", AT, refund) == (
        '{"event":"refund.processed","timestamp":1705315870,"data":{"refund":{"id":"rfnd_1",'
        '"payment_id":"pay_1","amount":100,"reason":"r","status":"processed",'
        '"created_at":"2024-01-15T10:33:00Z","processed_at":"2024-01-15T10:33:05Z"}}}'
    )


def test_signatures_match_independently_computed_values() -> None:
    # computed with `openssl dgst -sha256 -hmac whsec_test_abc123` over SPEC_BODY
    assert signature("whsec_test_abc123", SPEC_BODY) == (
        "b51174d43fd778faace59c1c7c81f3194031e5f2981402a7d4c24299c948e5fc"
    )
    assert standard_signature("whsec_test_abc123", "evt_1", 1705315870, SPEC_BODY) == (
        "v1,da515L8jS5sfhoZaZ2aFHPJIgJHl9g30rapSsqsCwhA="
    )


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [(PRODUCTION_SCHEDULE, [60, 300, 1800, 7200]), (TEST_SCHEDULE, [5, 10, 15, 20])],
)
def test_failures_follow_the_schedule_and_the_fifth_is_final(
    schedule: tuple[int, ...], expected: list[int]
) -> None:
    delays = []
    for before in range(4):
        status, attempts, next_at = after_attempt(before, False, AT, schedule)
        assert (status, attempts) == (DeliveryStatus.PENDING, before + 1)
        assert next_at is not None
        delays.append(int((next_at - AT) / timedelta(seconds=1)))
    assert delays == expected
    assert after_attempt(4, False, AT, schedule) == (DeliveryStatus.FAILED, 5, None)
    assert after_attempt(2, True, AT, schedule) == (DeliveryStatus.SUCCESS, 3, None)


@pytest.mark.parametrize(
    "url", ["https://shop.example/hook", "http://127.0.0.1:4000/webhook", None]
)
def test_acceptable_urls(url: str | None) -> None:
    assert check_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x.example/",
        "not a url",
        "https://",
        "https://user:pw@x.example/",
        "http://x.example:99999/",
        "https://x.example/" + "a" * 2100,
        "javascript:alert(1)",
    ],
)
def test_unacceptable_urls(url: str) -> None:
    with pytest.raises(InvalidWebhookUrl):
        check_url(url)


def teredo(server: str, client: str) -> str:
    """A Teredo address (RFC 4380): 2001:0::/32, the server, flags, then the port and the client
    address bit-inverted."""
    port = 40000
    bits = (0x2001_0000 << 96) | (int(ipaddress.IPv4Address(server)) << 64) | (0x8000 << 48)
    bits |= ((port ^ 0xFFFF) << 32) | (int(ipaddress.IPv4Address(client)) ^ 0xFFFF_FFFF)
    address = ipaddress.IPv6Address(bits)
    assert address.teredo == (ipaddress.IPv4Address(server), ipaddress.IPv4Address(client))
    return str(address)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),  # noqa: S104 - an address under test, not a bind
        ("224.0.0.1", False),
        ("::1", False),
        ("fd00::1", False),
        ("fe80::1%eth0", False),
        ("::ffff:127.0.0.1", False),
        # IPv6 carrying an IPv4 address is judged by that address.
        ("::ffff:8.8.8.8", True),
        ("64:ff9b::7f00:1", False),  # NAT64 to 127.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 to the metadata address
        ("64:ff9b::a00:1", False),
        ("64:ff9b::808:808", True),
        ("64:ff9b:1::c0a8:101", False),  # local-use NAT64 to 192.168.1.1
        ("64:ff9b:1::808:808", True),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:a9fe:a9fe::", False),
        ("2002:a00:1::1", False),
        ("2002:808:808::1", True),
        ("::7f00:1", False),  # IPv4-compatible ::127.0.0.1
        ("::a9fe:a9fe", False),
        ("::808:808", True),
        ("::", False),
        ("fec0::1", False),  # site-local, deprecated (is_global still says yes)
        ("4000::1", False),  # reserved by IETF, unassigned
        ("240.0.0.1", False),  # reserved
        (teredo("65.54.227.120", "127.0.0.1"), False),
        (teredo("65.54.227.120", "10.1.2.3"), False),
        (teredo("10.1.2.3", "8.8.8.8"), False),
        (teredo("65.54.227.120", "8.8.8.8"), True),
    ],
)
def test_only_public_destinations_without_an_allow_list(address: str, allowed: bool) -> None:
    assert address_allowed(address, []) is allowed


def test_allow_list_opens_named_networks_only() -> None:
    loopback = parse_networks(["127.0.0.0/8", "::1/128"])
    assert address_allowed("127.0.0.1", loopback)
    assert address_allowed("::1", loopback)
    assert not address_allowed("10.0.0.1", loopback)
    assert address_allowed("64:ff9b::7f00:1", loopback)  # the carried address is what counts
    assert not address_allowed("64:ff9b::a00:1", loopback)


def test_an_operators_nat64_prefix_is_judged_by_the_ipv4_it_carries() -> None:
    nat64 = parse_networks(["2a00:1450:64::/96"])
    to_loopback, to_public = "2a00:1450:64::7f00:1", "2a00:1450:64::808:808"
    assert address_allowed(to_loopback, [])  # a global IPv6 address, unless told otherwise
    assert not address_allowed(to_loopback, [], nat64)
    assert address_allowed(to_public, [], nat64)
    assert not address_allowed("2a00:1450:64::a9fe:a9fe", [], nat64)  # the metadata address


def test_new_secrets_sign_as_the_standard_webhooks_library_verifies() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    now = int(time.time())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(now),
        "webhook-signature": standard_signature(secret, "msg_1", now, SPEC_BODY),
    }
    Webhook(secret).verify(SPEC_BODY, headers)  # the oracle: raises if it does not verify
    headers["webhook-signature"] = standard_signature(new_secret(), "msg_1", now, SPEC_BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(SPEC_BODY, headers)


def test_older_secrets_keep_signing_with_their_utf8_bytes() -> None:
    older = "whsec_" + secrets.token_urlsafe(24)  # how secrets were made before
    signed = f"evt_1.1705315870.{SPEC_BODY}".encode()
    expected = base64.b64encode(hmac.new(older.encode(), signed, hashlib.sha256).digest())
    assert standard_signature(older, "evt_1", 1705315870, SPEC_BODY) == "v1," + expected.decode()


def test_the_verification_code_in_docs_webhooks_md_accepts_what_we_send() -> None:
    guide = (Path(__file__).parents[4] / "docs" / "webhooks.md").read_text()
    code = guide.split("Python without it")[1].split("```python\n")[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)  # noqa: S102 - our own documentation's snippet
    now = int(time.time())
    for secret in (new_secret(), "whsec_test_abc123", "whsec_" + secrets.token_urlsafe(24)):
        headers = {
            "X-Webhook-Signature": "0" * 64,  # only the Standard Webhooks signature is right
            "webhook-id": "msg_1",
            "webhook-timestamp": str(now),
            "webhook-signature": standard_signature(secret, "msg_1", now, SPEC_BODY),
        }
        assert namespace["verify"](secret, headers, SPEC_BODY.encode()), secret
        headers["X-Webhook-Signature"] = signature(secret, SPEC_BODY)
        headers["webhook-signature"] = "v1,AAAA"
        assert namespace["verify"](secret, headers, SPEC_BODY.encode()), secret
        headers["X-Webhook-Signature"] = "0" * 64
        assert not namespace["verify"](secret, headers, SPEC_BODY.encode()), secret


class TestRotation:
    NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)

    def endpoint(self) -> Endpoint:
        return Endpoint(EndpointId("ep_x"), uuid4(), "https://x.example/", new_secret())

    def test_an_overlap_keeps_the_replaced_secret_until_it_ends(self) -> None:
        old = self.endpoint()
        new = old.rotated(new_secret(), self.NOW, timedelta(hours=24))
        assert (new.previous_secret, new.previous_secret_expires_at) == (
            old.secret,
            self.NOW + timedelta(hours=24),
        )
        during = signing_secrets(new.secret, new.previous_secret, new.previous_secret_expires_at,
                                 self.NOW + timedelta(hours=23))  # fmt: skip
        assert during == (new.secret, old.secret)
        after = signing_secrets(new.secret, new.previous_secret, new.previous_secret_expires_at,
                                self.NOW + timedelta(hours=24))  # fmt: skip
        assert after == (new.secret,)

    def test_no_overlap_forgets_the_replaced_secret(self) -> None:
        rotated = self.endpoint().rotated(new_secret(), self.NOW, timedelta(hours=1))
        again = rotated.rotated(new_secret(), self.NOW, timedelta(0))
        assert (again.previous_secret, again.previous_secret_expires_at) == (None, None)

    def test_each_secret_signs_one_value_and_the_library_accepts_either(self) -> None:
        old, new = new_secret(), new_secret()
        stamp = int(time.time())
        header = standard_signatures((new, old), "evt_1", stamp, SPEC_BODY)
        assert header.split(" ") == [
            standard_signature(s, "evt_1", stamp, SPEC_BODY) for s in (new, old)
        ]
        headers = {"webhook-id": "evt_1", "webhook-timestamp": str(stamp),
                   "webhook-signature": header}  # fmt: skip
        for secret in (old, new):
            Webhook(secret).verify(SPEC_BODY, headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(SPEC_BODY, headers)


class TestFilter:
    def test_an_endpoint_receives_what_its_filter_names_or_everything(self) -> None:
        every = Endpoint(EndpointId("ep_x"), uuid4(), "https://x.example/", "whsec_x")
        some = replace(every, event_types=("order.paid",))
        assert every.receives("payment.success")
        assert (some.receives("order.paid"), some.receives("payment.success")) == (True, False)
        assert not replace(every, enabled=False).receives("order.paid")
        assert not replace(every, url=None).receives("order.paid")

    def test_the_filter_names_merchant_events_once(self) -> None:
        assert event_filter(["order.paid", "refund.created", "order.paid"]) == (
            "order.paid",
            "refund.created",
        )
        with pytest.raises(UnknownEventType):
            event_filter(["order.created"])

    def test_the_public_event_types_are_the_merchant_events(self) -> None:
        assert set(get_args(EventType)) == MERCHANT_EVENTS


@pytest.mark.parametrize(
    ("limit", "said"),
    [(timedelta(days=5), "5 days"), (timedelta(hours=1), "1 hour"),
     (timedelta(seconds=90), "90 seconds"), (timedelta(seconds=0.5), "0.5 seconds")],
)  # fmt: skip
def test_the_disabling_reason_names_the_period(limit: timedelta, said: str) -> None:
    since = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    assert failing_reason(since, limit) == (
        f"every attempt failed since 2026-11-30T12:00:00Z, for more than {said}"
    )
