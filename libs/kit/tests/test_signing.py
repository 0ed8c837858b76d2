"""Keys of stream messages (kit.signing): production refuses missing and development keys;
real keys sign and verify; a key of the wrong length is a clear error."""

import base64

import pytest

from kit.signing import development_key, new_pair, signer, verifier

DATA = b'{"task_name": "orders.do"}'


def test_production_refuses_a_missing_or_development_signing_key() -> None:
    with pytest.raises(ValueError, match="MESSAGE_SIGNING_KEY must be set"):
        signer("orders", None, production=True)
    seed = base64.b64encode(development_key("orders").private_bytes_raw()).decode()
    with pytest.raises(ValueError, match="development key"):
        signer("orders", seed, production=True)
    assert signer("orders", seed, production=False).service == "orders"


def test_production_refuses_missing_or_development_public_keys() -> None:
    _, public = new_pair()
    with pytest.raises(ValueError, match="no key of payments"):
        verifier({"orders", "payments"}, [f"orders={public}"], production=True)
    dev = base64.b64encode(development_key("payments").public_key().public_bytes_raw()).decode()
    with pytest.raises(ValueError, match="development key of payments"):
        verifier({"payments"}, [f"payments={dev}"], production=True)


def test_a_real_pair_signs_and_verifies_and_nothing_else_does() -> None:
    private, public = new_pair()
    other, _ = new_pair()
    check = verifier({"orders"}, [f"orders={public}"], production=True)
    fields = {b"data": DATA, **signer("orders", private, production=True).fields("orders", DATA)}
    assert check.refusal("orders", fields, "orders.do", []) is None
    forged = {b"data": DATA, **signer("orders", other, production=True).fields("orders", DATA)}
    assert (
        check.refusal("orders", forged, "orders.do", []) == "signature of 'orders' does not verify"
    )


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"short").decode()])
def test_a_malformed_key_is_a_clear_error(text: str) -> None:
    with pytest.raises(ValueError, match="32 bytes in base64"):
        signer("orders", text or " ", production=False)
    with pytest.raises(ValueError, match="MESSAGE_VERIFY_KEYS"):
        verifier({"orders"}, [f"orders={text}"], production=False)
