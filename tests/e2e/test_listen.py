"""`python -m webhooks.listen` and the stream behind it, against the stack through the edge."""

import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from tests.e2e.conftest import Merchant
from tests.e2e.test_webhooks import pay, verify
from tests.receiver import Received, running_receiver
from tests.waits import WAIT_SECONDS, eventually

pytestmark = pytest.mark.e2e


def server_sent(lines: Iterator[str]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(id, type, body) of each event among the lines of a stream."""
    fields: dict[str, str] = {}
    for line in lines:
        if line and not line.startswith(":"):
            name, _, value = line.partition(": ")
            fields[name] = value
        elif not line and "id" in fields:
            yield fields["id"], fields["event"], json.loads(fields["data"])
            fields = {}


def test_the_stream_sends_new_events_and_resumes_after_the_last_one_seen(
    stack: Stack, api: httpx.Client, merchant_headers: dict[str, str]
) -> None:
    timeout = httpx.Timeout(10, read=WAIT_SECONDS)  # each read waits at most this long
    with httpx.Client(base_url=stack.url("api"), timeout=timeout) as client:
        with client.stream("GET", "/api/v1/events/stream", headers=merchant_headers) as opened:
            assert opened.status_code == 200
            assert opened.headers["content-type"].startswith("text/event-stream")
            payment = pay(api, merchant_headers)
            seen: list[tuple[str, str]] = []
            for event_id, event_type, body in server_sent(opened.iter_lines()):
                assert body["event"] == event_type
                if body["data"].get("payment", {}).get("id") == payment["id"]:
                    seen.append((event_id, event_type))
                if event_type == "payment.success":
                    break
        types = [t for _, t in seen]
        assert types[:2] == ["payment.created", "payment.pending"], types
        assert types.count("payment.success") == 1
        # Resuming after the first event sends what followed it first.
        resume = {**merchant_headers, "Last-Event-ID": seen[0][0]}
        with client.stream("GET", "/api/v1/events/stream", headers=resume) as resumed:
            event_id, event_type, _ = next(server_sent(resumed.iter_lines()))
        assert (event_id, event_type) == seen[1]


def test_the_stream_refuses_an_unknown_key(stack: Stack) -> None:
    refused = httpx.get(
        f"{stack.url('api')}/api/v1/events/stream",
        headers={"X-Api-Key": "key_nobody", "X-Api-Secret": "nothing"},
    )
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_a_merchant_keeps_a_few_streams_open_and_one_more_is_refused_429(
    stack: Stack, merchant_headers: dict[str, str]
) -> None:
    timeout = httpx.Timeout(10, read=WAIT_SECONDS)
    with (
        contextlib.ExitStack() as streams,
        httpx.Client(base_url=stack.url("api"), timeout=timeout) as client,
    ):
        reading: list[Iterator[str]] = []  # a line iterator dropped would close its stream

        def open_stream() -> httpx.Response:
            opened = streams.enter_context(
                client.stream("GET", "/api/v1/events/stream", headers=merchant_headers)
            )
            if opened.status_code == 200:
                reading.append(opened.iter_lines())
                assert next(reading[-1]).startswith(": streaming")  # it holds its slot now
            return opened

        opened = [open_stream() for _ in range(5)]  # EVENT_STREAMS_PER_MERCHANT
        assert [o.status_code for o in opened] == [200] * 5
        refused = open_stream()
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "10"
        opened[0].close()

        def a_slot_is_free() -> bool:
            with client.stream("GET", "/api/v1/events/stream", headers=merchant_headers) as again:
                return again.status_code == 200

        eventually(a_slot_is_free, "a stream opened again once one closed")


def test_a_stream_ends_within_seconds_of_its_session_being_logged_out(
    stack: Stack, merchant_with_password: Merchant
) -> None:
    merchant = merchant_with_password
    with httpx.Client(
        base_url=stack.url("api"), timeout=httpx.Timeout(10, read=WAIT_SECONDS)
    ) as client:
        login = client.post(
            "/api/v1/auth/login", json={"email": merchant.email, "password": merchant.password}
        )
        assert login.status_code == 200, login.text
        bearer = {"Authorization": f"Bearer {login.json()['token']}"}
        with client.stream("GET", "/api/v1/events/stream", headers=bearer) as opened:
            assert opened.status_code == 200
            lines = opened.iter_lines()
            assert next(lines).startswith(": streaming")
            assert client.post("/api/v1/auth/logout", headers=bearer).status_code == 204
            rest = list(lines)  # until the server ends the stream (each read waits WAIT_SECONDS)
        assert ": credentials revoked or expired; stream ended" in rest


def test_listen_forwards_each_event_signed_and_prints_the_answer(
    stack: Stack, api: httpx.Client, merchant_headers: dict[str, str]
) -> None:
    env = {
        **os.environ,
        "GATEWAY_API_KEY": merchant_headers["X-Api-Key"],
        "GATEWAY_API_SECRET": merchant_headers["X-Api-Secret"],
    }
    with running_receiver() as local, running_receiver() as configured:
        # A webhook URL of its own, so that test webhooks can be sent (see below).
        url = {"webhook_url": configured.url}
        config = api.put("/api/v1/webhooks/config", json=url, headers=merchant_headers).json()
        command = [sys.executable, "-m", "webhooks.listen", "--api", stack.url("api"),
                   "--forward-to", local.url]  # fmt: skip
        listener = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(listener.stdout.readline, "")))  # type: ignore[union-attr]
        reader.start()
        try:
            eventually(lambda: any(line.startswith("Ready.") for line in lines), "listen ready")

            # "Ready." is printed before the listener opens its stream, which sends only what is
            # stored after it opened: a test webhook forwarded shows it is open.
            def streaming() -> bool:
                with local.lock:
                    if any(r.json["event"] == "webhook.test" for r in local.requests):
                        return True
                sent = api.post("/api/v1/webhooks/test", headers=merchant_headers)
                assert sent.status_code == 200, sent.text
                return False

            eventually(streaming, "a test webhook forwarded by listen (its stream open)")
            payment = pay(api, merchant_headers)

            def success_forwarded() -> list[Received]:
                with local.lock:
                    return [r for r in local.requests if r.json["event"] == "payment.success"]

            [success] = eventually(success_forwarded, "payment.success forwarded")
            assert success.json["data"]["payment"]["id"] == payment["id"]
            verify(success, config["webhook_secret"])
            eventually(
                lambda: any("payment.success" in line and "-> 200 OK" in line for line in lines),
                "a line for the forwarded payment.success",
            )
        finally:
            listener.terminate()
            listener.wait(WAIT_SECONDS)
            reader.join(WAIT_SECONDS)
            listener.stdout.close()  # type: ignore[union-attr]
