"""Stream messages are signed by the service that publishes them, and a worker runs only what
the service entitled to send it signed: a pod that can write to Redis but holds no key for a
consumer cannot make it apply a `payment.success` (issue 23, item 6).

- Each service has a secret (`MESSAGE_SIGNING_KEY`). What it sends to a queue is signed with a
  key for that pair only, `HMAC-SHA256(secret, "stream key:" + queue)`, and names its sender
  (`from`, `sig` fields). A consumer holds the keys of the pairs that end at itself
  (`MESSAGE_VERIFY_KEYS`, `service=key,…`; its own jobs' key it derives from its own secret).
  So a compromised consumer can forge only messages to itself, which it already runs, and a
  message meant for one consumer does not verify at another. (Ed25519 gives the same
  guarantee with public keys, but its verification took 190 µs per message on this machine, a
  few percent of the whole pipeline's CPU; an HMAC takes 5.)
- The consumer checks the signature and the sender's entitlement: an event only from the
  service that owns its object (`payment.*` from payments, `refund.*` from refunds: `owner`),
  a job only from the service whose queue it is on (jobs are a service's work for itself).
- Keys are 32 bytes in base64. Outside production a service with none configured uses a
  development secret derived from its name (anyone can derive it: it proves nothing, it only
  keeps a laptop and the tests free of key handling); production refuses to start with a
  missing or development key. `python -m kit.signing orders payments …` makes each service's
  secret and each consumer's verify keys.
- `MESSAGE_SIGNATURES=optional` accepts unsigned entries (a bad signature is still refused):
  for the one rolling deploy from a version that did not sign.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SENDER_FIELD = b"from"
SIGNATURE_FIELD = b"sig"
_DEVELOPMENT = b"payment-gateway development message key, not a secret: "


def owner(event_type: str) -> str:
    """The service that publishes events of `event_type`: the one that owns its object
    (`payment.success` → payments)."""
    return event_type.partition(".")[0] + "s"


def development_secret(service: str) -> bytes:
    return hashlib.sha256(_DEVELOPMENT + service.encode()).digest()


def pair_key(secret: bytes, queue: str) -> bytes:
    """The key of messages from the service holding `secret` to `queue`."""
    return hmac.new(secret, b"stream key:" + queue.encode(), hashlib.sha256).digest()


def _decode(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes in base64 (python -m kit.signing makes them)")
    return raw


def verify_keys(entries: Iterable[str]) -> dict[str, bytes]:
    """`service=key` entries (MESSAGE_VERIFY_KEYS) by sending service."""
    keys = {}
    for entry in entries:
        service, sep, text = entry.partition("=")
        if not sep or not service.strip():
            raise ValueError("MESSAGE_VERIFY_KEYS entries are service=key (base64)")
        keys[service.strip()] = _decode(text, f"MESSAGE_VERIFY_KEYS' key of {service.strip()}")
    return keys


def _mac(key: bytes, data: bytes) -> bytes:
    return hmac.new(key, data, hashlib.sha256).digest()


@dataclass
class Signer:
    service: str
    secret: bytes
    _keys: dict[str, bytes] = field(default_factory=dict, repr=False)

    def fields(self, queue: str, data: bytes) -> dict[bytes, bytes]:
        """The fields naming and proving the sender of `data` on `queue`."""
        key = self._keys.get(queue)
        if key is None:
            key = self._keys[queue] = pair_key(self.secret, queue)
        return {SENDER_FIELD: self.service.encode(), SIGNATURE_FIELD: _mac(key, data)}


@dataclass(frozen=True)
class Verifier:
    """The keys of the messages that end at this worker's queue, by sender."""

    keys: Mapping[str, bytes]
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
        if not hmac.compare_digest(_mac(key, fields.get(b"data", b"")), signature):
            return f"signature of {sender!r} does not verify"
        types = list(event_types)
        if not types and sender != queue:
            return f"{sender!r} may not send the job {task} to {queue!r}"
        if wrong := sorted({t for t in types if owner(t) != sender}):
            return f"{sender!r} may not send {', '.join(wrong)}"
        return None


def signer(service: str, configured: str | None, production: bool) -> Signer:
    if configured:
        secret = _decode(configured, "MESSAGE_SIGNING_KEY")
        if production and hmac.compare_digest(secret, development_secret(service)):
            raise ValueError("MESSAGE_SIGNING_KEY is the development key; set a real one")
        return Signer(service, secret)
    if production:
        raise ValueError(
            "MESSAGE_SIGNING_KEY must be set when ENVIRONMENT=production (python -m kit.signing)"
        )
    return Signer(service, development_secret(service))


def verifier(
    own: Signer,
    senders: Iterable[str],
    configured: Iterable[str],
    production: bool,
    required: bool = True,
) -> Verifier:
    """The keys of the messages `senders` send to `own.service`'s queue; its own (jobs) from
    its own secret."""
    keys = verify_keys(configured)
    wanted = sorted(set(senders) - {own.service})
    if production:
        if missing := [s for s in wanted if s not in keys]:
            raise ValueError(f"MESSAGE_VERIFY_KEYS has no key of {', '.join(missing)}")
        for service in wanted:
            if hmac.compare_digest(
                keys[service], pair_key(development_secret(service), own.service)
            ):
                raise ValueError(f"MESSAGE_VERIFY_KEYS holds the development key of {service}")
    elif not keys:
        keys = {s: pair_key(development_secret(s), own.service) for s in wanted}
    return Verifier({**keys, own.service: pair_key(own.secret, own.service)}, required)


def new_keys(services: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """A new secret per service, and per service the verify keys of messages from every other
    (`MESSAGE_SIGNING_KEY`, `MESSAGE_VERIFY_KEYS`), base64."""
    made = {s: secrets.token_bytes(32) for s in services}
    signing = {s: base64.b64encode(secret).decode() for s, secret in made.items()}
    verifying = {
        consumer: ",".join(
            f"{s}={base64.b64encode(pair_key(made[s], consumer)).decode()}"
            for s in services if s != consumer
        )
        for consumer in services
    }  # fmt: skip
    return signing, verifying


def main(services: list[str]) -> None:
    if not services:
        sys.exit("usage: python -m kit.signing SERVICE… (every service with a worker)")
    signing, verifying = new_keys(services)
    for service in services:
        sys.stdout.write(f"{service}: MESSAGE_SIGNING_KEY={signing[service]}\n")
        sys.stdout.write(f"{service}: MESSAGE_VERIFY_KEYS={verifying[service]}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
