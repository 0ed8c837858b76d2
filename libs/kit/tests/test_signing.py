"""Keys of stream messages (kit.signing): production refuses missing and development keys;
each pair of sender and queue has its own key, so a consumer's keys verify messages to itself
only; a key of the wrong length is a clear error."""

import base64

import pytest

from kit.signing import development_secret, new_keys, pair_key, signer, verifier

DATA = b'{"task_name": "orders.do"}'


def test_production_refuses_a_missing_or_development_signing_key() -> None:
    with pytest.raises(ValueError, match="MESSAGE_SIGNING_KEY must be set"):
        signer("orders", None, production=True)
    seed = base64.b64encode(development_secret("orders")).decode()
    with pytest.raises(ValueError, match="development key"):
        signer("orders", seed, production=True)
    assert signer("orders", seed, production=False).service == "orders"


def test_production_refuses_missing_or_development_verify_keys() -> None:
    signing, verifying = new_keys(["orders", "payments", "webhooks"])
    orders = signer("orders", signing["orders"], production=True)
    with pytest.raises(ValueError, match="no key of payments"):
        verifier(orders, {"payments"}, [], production=True)
    dev = base64.b64encode(pair_key(development_secret("payments"), "orders")).decode()
    with pytest.raises(ValueError, match="development key of payments"):
        verifier(orders, {"payments"}, [f"payments={dev}"], production=True)
    made = verifier(orders, {"payments", "orders"}, verifying["orders"].split(","), True)
    assert set(made.keys) == {"payments", "webhooks", "orders"}  # orders' own: its jobs


def test_new_keys_sign_and_verify_per_pair_and_nothing_else_does() -> None:
    signing, verifying = new_keys(["orders", "payments", "webhooks"])
    payments = signer("payments", signing["payments"], production=True)
    orders = signer("orders", signing["orders"], production=True)
    webhooks = signer("webhooks", signing["webhooks"], production=True)
    at_orders = verifier(orders, {"payments"}, verifying["orders"].split(","), True)
    at_webhooks = verifier(webhooks, {"payments"}, verifying["webhooks"].split(","), True)
    fields = {b"data": DATA, **payments.fields("orders", DATA)}
    assert at_orders.refusal("orders", fields, "orders.handle_event", ["payment.success"]) is None
    # what payments sent to orders does not verify at webhooks (another pair's key) ...
    assert at_webhooks.refusal("webhooks", fields, "webhooks.handle_event", ["payment.success"])
    # ... and orders, which holds the key payments→orders, cannot sign for payments→webhooks
    forged = {b"data": DATA, **signer("payments", signing["orders"], True).fields("webhooks", DATA)}
    refused = at_webhooks.refusal("webhooks", forged, "webhooks.handle_event", ["payment.success"])
    assert refused == "signature of 'payments' does not verify"


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_key_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="32 bytes in base64"):
        signer("orders", text or " ", production=False)
    with pytest.raises(ValueError, match="MESSAGE_VERIFY_KEYS"):
        verifier(signer("orders", None, False), {"payments"}, [f"payments={text}"], False)
