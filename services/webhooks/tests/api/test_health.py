"""Endpoint health through the API, with WEBHOOK_DISABLE_AFTER_SECONDS in seconds as in tests."""

from typing import Any

import httpx
import pytest

from tests.receiver import Receiver
from tests.waits import eventually_async
from webhooks.settings import Settings
from webhooks.tasks import Dispatcher

ENDPOINTS = "/api/v1/webhooks/endpoints"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_disable_after_seconds": 0.5})


async def test_a_failing_endpoint_is_disabled_and_can_be_enabled_with_a_replay(
    client: httpx.AsyncClient,
    other_merchant: dict[str, str],
    receiver: Receiver,
    worker: Dispatcher,
) -> None:
    headers = other_merchant
    receiver.fail_next = 1000
    created = await client.post(ENDPOINTS, json={"url": receiver.url}, headers=headers)
    one = f"{ENDPOINTS}/{created.json()['id']}"

    async def failing_until_disabled() -> dict[str, Any] | None:
        await client.post(f"{one}/test", headers=headers)  # each test attempt fails
        endpoint: dict[str, Any] = (await client.get(one, headers=headers)).json()
        return None if endpoint["enabled"] else endpoint

    disabled = await eventually_async(failing_until_disabled, "the endpoint disabled")
    assert disabled["failing_since"] is not None
    assert disabled["disabled_at"] is not None
    assert disabled["disabled_reason"].endswith("for more than 0.5 seconds")
    listed = (await client.get(ENDPOINTS, headers=headers)).json()["data"]
    assert [e["disabled_reason"] for e in listed if e["id"] == disabled["id"]] == [
        disabled["disabled_reason"]
    ]
    logs = (await client.get(f"/api/v1/webhooks?endpoint_id={disabled['id']}&limit=100",
                             headers=headers)).json()["data"]  # fmt: skip
    assert logs
    assert {log["status"] for log in logs} == {"failed"}
    retry = await client.post(f"/api/v1/webhooks/{logs[0]['id']}/retry", headers=headers)
    assert (retry.status_code, retry.json()["error"]["code"]) == (400, "BAD_REQUEST_ERROR")

    receiver.fail_next = 0
    enabled = await client.post(f"{one}/enable", json={"replay": True}, headers=headers)
    assert enabled.status_code == 200
    body = enabled.json()
    assert (body["enabled"], body["disabled_reason"], body["failing_since"]) == (True, None, None)
    assert body["replayed"] == 0  # test webhooks are never replayed


@pytest.mark.parametrize("body", [{"replay": "maybe"}, {"replay": True, "since": 1}, []])
async def test_bad_enable_bodies_are_400(
    client: httpx.AsyncClient, other_merchant: dict[str, str], body: Any
) -> None:
    created = await client.post(
        ENDPOINTS, json={"url": "https://x.example/"}, headers=other_merchant
    )
    response = await client.post(
        f"{ENDPOINTS}/{created.json()['id']}/enable", json=body, headers=other_merchant
    )
    assert (response.status_code, response.json()["error"]["code"]) == (400, "BAD_REQUEST_ERROR")


async def test_enable_needs_credentials_and_the_merchants_own_endpoint(
    client: httpx.AsyncClient, other_merchant: dict[str, str]
) -> None:
    created = await client.post(
        ENDPOINTS, json={"url": "https://x.example/"}, headers=other_merchant
    )
    one = f"{ENDPOINTS}/{created.json()['id']}/enable"
    assert (await client.post(one)).status_code == 401
    test_headers = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
    assert (await client.post(one, headers=test_headers)).status_code == 404
