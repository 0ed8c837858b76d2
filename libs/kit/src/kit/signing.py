"""Stream messages are signed by the service that publishes them (Ed25519), and a worker runs
only what the service entitled to send it signed: a pod that can write to Redis but holds no
service's key cannot make a consumer apply a `payment.success` (issue 23, item 6).

- The relay signs `queue + "\\n" + data` of every entry with its service's private key
  (`MESSAGE_SIGNING_KEY`) and names itself in the entry (`from`); the queue is signed too, so a
  message meant for one consumer is not accepted by another.
- A consumer checks the signature with the sender's public key (`MESSAGE_VERIFY_KEYS`,
  `service=key,…`) and the sender's entitlement: an event only from the service that owns its
  object (`payment.*` from payments, `refund.*` from refunds: `owner`), a job only from the
  service whose queue it is on (jobs are a service's work for itself).
- Keys are 32-byte Ed25519 seeds and public keys, base64. Outside production a service with no
  key configured uses a development key derived from its name (anyone can derive it: it proves
  nothing, it only keeps a laptop and the tests free of key handling); production refuses to
  start with a missing or development key. `python -m kit.signing orders payments …` prints a
  new pair per service.
- `MESSAGE_SIGNATURES=optional` accepts unsigned entries (a bad signature is still refused):
  for the one rolling deploy from a version that did not sign.
"""

import base64
import binascii
import hashlib
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SENDER_FIELD = b"from"
SIGNATURE_FIELD = b"sig"
_DEVELOPMENT = b"payment-gateway development message key, not a secret: "


def owner(event_type: str) -> str:
    """The service that publishes events of `event_type`: the one that owns its object
    (`payment.success` → payments)."""
    return event_type.partition(".")[0] + "s"


def development_key(service: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(_DEVELOPMENT + service.encode()).digest()
    )


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes in base64 (python -m kit.signing makes one)")
    return raw


def private_key(text: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(_decode(text, "MESSAGE_SIGNING_KEY"))


def public_keys(entries: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    """`service=key` entries (MESSAGE_VERIFY_KEYS) by service."""
    keys = {}
    for entry in entries:
        service, sep, text = entry.partition("=")
        if not sep or not service.strip():
            raise ValueError("MESSAGE_VERIFY_KEYS entries are service=base64 public key")
        raw = _decode(text, f"MESSAGE_VERIFY_KEYS' key of {service.strip()}")
        keys[service.strip()] = Ed25519PublicKey.from_public_bytes(raw)
    return keys


def _signed(queue: str, data: bytes) -> bytes:
    return queue.encode() + b"\n" + data


@dataclass(frozen=True)
class Signer:
    service: str
    key: Ed25519PrivateKey

    def fields(self, queue: str, data: bytes) -> dict[bytes, bytes]:
        """The fields naming and proving the sender of `data` on `queue`."""
        return {
            SENDER_FIELD: self.service.encode(),
            SIGNATURE_FIELD: self.key.sign(_signed(queue, data)),
        }


@dataclass(frozen=True)
class Verifier:
    keys: Mapping[str, Ed25519PublicKey]
    required: bool = True

    def refusal(
        self, queue: str, fields: Mapping[bytes, bytes], task: str, event_types: Iterable[str]
    ) -> str | None:
        """Why the entry must not run (None: it may). `event_types`: the types of the events
        it carries (none for a job)."""
        sender_raw, signature = fields.get(SENDER_FIELD), fields.get(SIGNATURE_FIELD)
        if sender_raw is None and signature is None and not self.required:
            return None
        if sender_raw is None or signature is None:
            return "unsigned"
        sender = sender_raw.decode(errors="replace")
        key = self.keys.get(sender)
        if key is None:
            return f"signed by {sender!r}, whose key this worker does not have"
        try:
            key.verify(signature, _signed(queue, fields.get(b"data", b"")))
        except InvalidSignature:
            return f"signature of {sender!r} does not verify"
        types = list(event_types)
        if not types and sender != queue:
            return f"{sender!r} may not send the job {task} to {queue!r}"
        if wrong := sorted({t for t in types if owner(t) != sender}):
            return f"{sender!r} may not send {', '.join(wrong)}"
        return None


def signer(service: str, configured: str | None, production: bool) -> Signer:
    if configured:
        key = private_key(configured)
        if production and _raw_public(key.public_key()) == _raw_public(
            development_key(service).public_key()
        ):
            raise ValueError("MESSAGE_SIGNING_KEY is the development key; set a real one")
        return Signer(service, key)
    if production:
        raise ValueError(
            "MESSAGE_SIGNING_KEY must be set when ENVIRONMENT=production (python -m kit.signing)"
        )
    return Signer(service, development_key(service))


def verifier(
    senders: Iterable[str], configured: Iterable[str], production: bool, required: bool = True
) -> Verifier:
    """The keys of `senders` (the services this worker takes messages from)."""
    keys = public_keys(configured)
    wanted = sorted(set(senders))
    if production:
        if missing := [s for s in wanted if s not in keys]:
            raise ValueError(f"MESSAGE_VERIFY_KEYS has no key of {', '.join(missing)}")
        for service in wanted:
            if _raw_public(keys[service]) == _raw_public(development_key(service).public_key()):
                raise ValueError(f"MESSAGE_VERIFY_KEYS holds the development key of {service}")
    elif not keys:
        keys = {s: development_key(s).public_key() for s in wanted}
    return Verifier(keys, required)


def new_pair() -> tuple[str, str]:
    """(private key, public key), base64."""
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    return base64.b64encode(seed).decode(), base64.b64encode(_raw_public(key.public_key())).decode()


def main(services: list[str]) -> None:
    if not services:
        sys.exit("usage: python -m kit.signing SERVICE… (every service with a worker)")
    publics = []
    for service in services:
        private, public = new_pair()
        sys.stdout.write(f"{service}: MESSAGE_SIGNING_KEY={private}\n")
        publics.append(f"{service}={public}")
    sys.stdout.write(f"every worker: MESSAGE_VERIFY_KEYS={','.join(publics)}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
