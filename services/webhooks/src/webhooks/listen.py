"""Forward the merchant's events to a local URL as they happen, signed as deliveries are, like
`stripe listen`:

    python -m webhooks.listen --forward-to http://localhost:4000/webhook

It reads `GET /api/v1/events/stream` (server-sent events) with the merchant's API key, signs
each event with the merchant's webhook secret (`X-Webhook-Signature` and the Standard Webhooks
headers) and POSTs it to `--forward-to`, printing one line per event with the answer. The
merchant's configured webhook URL keeps receiving deliveries as before; nothing here changes it.
"""

import argparse
import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from webhooks.domain import signature, standard_signature

SUMMARY = "Forward the merchant's events to a local URL as they happen, signed."
RECONNECT_MAX_SECONDS = 10.0


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    body: str


async def events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """Server-sent events from a line stream (comments and unknown fields ignored)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for line in lines:
        if not line:
            if data and "id" in fields:
                yield Event(fields["id"], fields.get("event", "message"), "\n".join(data))
            fields, data = {}, []
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value


def signed_headers(secret: str, event: Event, timestamp: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Webhook-Signature": signature(secret, event.body),
        "webhook-id": event.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, event.id, timestamp, event.body),
    }


async def forward(client: httpx.AsyncClient, url: str, secret: str, event: Event) -> str:
    """POST the event to `url`; a one-line report of what came back."""
    started = time.monotonic()
    headers = signed_headers(secret, event, int(time.time()))
    try:
        answer = await client.post(url, content=event.body.encode(), headers=headers)
    except httpx.HTTPError as error:
        return f"{event.type:<18} {event.id}  -> failed: {type(error).__name__}"
    took = round((time.monotonic() - started) * 1000)
    return (
        f"{event.type:<18} {event.id}  -> {answer.status_code} {answer.reason_phrase} ({took} ms)"
    )


class Refused(Exception):
    """The gateway refused the credentials: retrying will not help."""


async def listen(api: str, key: str, secret: str, forward_to: str, out: "Output") -> None:
    credentials = {"X-Api-Key": key, "X-Api-Secret": secret}
    timeout = httpx.Timeout(10, read=None)  # the stream is quiet between events
    async with (
        httpx.AsyncClient(base_url=api, headers=credentials, timeout=timeout) as gateway,
        httpx.AsyncClient(timeout=10) as local,
    ):
        config = await gateway.get("/api/v1/webhooks/config")
        if config.status_code in (401, 403):
            raise Refused(config.json().get("error", {}).get("description", config.text))
        config.raise_for_status()
        signing_secret = str(config.json()["webhook_secret"])
        out(f"Ready. Forwarding the merchant's events to {forward_to}, signed with the"
            f" webhook secret ending …{signing_secret[-4:]}. Ctrl-C stops.")  # fmt: skip
        last_id: str | None = None
        pause = 1.0
        while True:
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                async with gateway.stream("GET", "/api/v1/events/stream", headers=headers) as sse:
                    if sse.status_code in (401, 403):
                        raise Refused("the API key was refused")
                    sse.raise_for_status()
                    pause = 1.0
                    async for event in events(sse.aiter_lines()):
                        out(await forward(local, forward_to, signing_secret, event))
                        last_id = event.id
            except (httpx.HTTPError, OSError) as error:
                out(f"stream interrupted ({type(error).__name__}); reconnecting in {pause:.0f} s")
                await asyncio.sleep(pause)
                pause = min(pause * 2, RECONNECT_MAX_SECONDS)


class Output:
    def __call__(self, line: str) -> None:
        print(line, flush=True)  # noqa: T201 - the command's output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m webhooks.listen", description=SUMMARY)
    parser.add_argument("--forward-to", required=True, help="local URL to POST each event to")
    parser.add_argument("--api", default=os.environ.get("GATEWAY_API_URL", "http://localhost:8000"))
    parser.add_argument(
        "--key", default=os.environ.get("GATEWAY_API_KEY"), help="or GATEWAY_API_KEY"
    )
    parser.add_argument(
        "--secret", default=os.environ.get("GATEWAY_API_SECRET"), help="or GATEWAY_API_SECRET"
    )
    args = parser.parse_args(argv)
    if not args.key or not args.secret:
        parser.error("an API key and secret are needed: --key/--secret or GATEWAY_API_KEY/SECRET")
    try:
        asyncio.run(listen(args.api.rstrip("/"), args.key, args.secret, args.forward_to, Output()))
    except Refused as refused:
        print(f"refused: {refused}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
