"""POSTs a signed webhook to a merchant, refusing destinations it must not reach (SSRF guard)."""

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from webhooks.domain import (
    RESPONSE_BODY_LIMIT,
    Attempt,
    Network,
    address_allowed,
    parse_networks,
    signature,
    standard_signatures,
)
from webhooks.settings import Settings

USER_AGENT = "gateway-webhooks/1"


class Sender:
    """One shared connection pool; no redirects; the resolved address is checked and used.

    One deadline covers the whole attempt (resolving, connecting, sending, reading), so a
    receiver that drips its answer a byte at a time cannot hold a slot past it. The response is
    asked for uncompressed and read raw, at most a few kilobytes, never decompressed.
    """

    def __init__(
        self,
        client: aiohttp.ClientSession,
        allowed: list[Network],
        timeout: float,
        nat64: list[Network] | None = None,
    ) -> None:
        self._client = client
        self._allowed = allowed
        self._timeout = timeout
        self._nat64 = nat64 or []

    @classmethod
    def of(cls, client: aiohttp.ClientSession, settings: Settings) -> "Sender":
        return cls(
            client,
            parse_networks(settings.webhook_allowed_networks),
            settings.webhook_timeout_seconds,
            parse_networks(settings.webhook_nat64_prefixes),
        )

    async def send(
        self, url: str, secrets: Sequence[str], message_id: str, body: str, sequence: int | None
    ) -> Attempt:
        """`secrets`: the current one (`X-Webhook-Signature`), then any still overlapping;
        `sequence`: the event's place in its object's life (`webhook-sequence`), if it has one."""
        started = time.perf_counter()
        extra = {} if sequence is None else {"webhook-sequence": str(sequence)}
        try:
            async with asyncio.timeout(self._timeout):
                return await self._send(url, secrets, message_id, body, started, extra)
        except TimeoutError:
            took = int((time.perf_counter() - started) * 1000)
            return Attempt(None, None, f"timed out after {self._timeout:g} s", took)

    async def _send(
        self,
        url: str,
        secrets: Sequence[str],
        message_id: str,
        body: str,
        started: float,
        extra: dict[str, str],
    ) -> Attempt:
        def took() -> int:
            return int((time.perf_counter() - started) * 1000)

        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await _resolve(host, port)
        except OSError as exc:
            detail = f"cannot resolve {host}: {exc}"
            return Attempt(None, None, "could not resolve the webhook URL's host", took(), detail)
        refused = [a for a in addresses if not address_allowed(a, self._allowed, self._nat64)]
        if refused or not addresses:
            # The merchant is not told which address: that would map our network for them.
            detail = f"{host} resolves to {refused[0] if refused else 'nothing'}"
            return Attempt(None, None, "destination address is not allowed", took(), detail)
        # Connect to the address we checked (no second lookup an attacker could answer differently).
        target = addresses[0]
        netloc = f"[{target}]:{port}" if ":" in target else f"{target}:{port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        timestamp = int(time.time())
        headers = {
            "Host": parts.netloc.rsplit("@", 1)[-1],
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": USER_AGENT,
            "X-Webhook-Signature": signature(secrets[0], body),
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": standard_signatures(secrets, message_id, timestamp, body),
            **extra,
        }
        try:
            async with self._client.post(
                pinned, data=body.encode(), headers=headers, allow_redirects=False,
                server_hostname=host if parts.scheme == "https" else None,
            ) as response:  # fmt: skip
                text = await _read_some(response)
                return Attempt(response.status, text, None, took())
        except aiohttp.ClientError as exc:
            # aiohttp's message names the address connected to; the merchant gets only its kind.
            kind = type(exc).__name__
            if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, TLS
                error = f"could not connect to the webhook URL ({kind})"
            else:
                error = f"no valid response from the webhook URL ({kind})"
            return Attempt(None, None, error, took(), f"{kind}: {exc}"[:RESPONSE_BODY_LIMIT])


async def _resolve(host: str, port: int) -> list[str]:
    """The addresses to check and connect to: an IP literal as it is (no lookup in the
    resolver's thread pool), a name through DNS."""
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def outbound_session(max_connections: int) -> aiohttp.ClientSession:
    """The shared pool for calls to merchants' endpoints: bounded, no proxies from the
    environment, bodies never decompressed (the sender reads a few raw kilobytes)."""
    connector = aiohttp.TCPConnector(limit=max_connections, use_dns_cache=False)
    return aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False)


async def _read_some(response: aiohttp.ClientResponse) -> str:
    """At most RESPONSE_BODY_LIMIT characters of the raw response (never decompressed, so no
    bomb), as text Postgres can store: invalid UTF-8 and NUL become U+FFFD."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        chunks.append(chunk)
        size += len(chunk)
        if size >= RESPONSE_BODY_LIMIT * 4:
            break
    text = b"".join(chunks)[: RESPONSE_BODY_LIMIT * 4].decode("utf-8", errors="replace")
    return text.replace("\x00", "\ufffd")[:RESPONSE_BODY_LIMIT]
