import asyncio
import json
import os
import subprocess
import sys

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from kit.db import Database, init_connection
from merchants import cli, service
from merchants.domain import TEST_MERCHANT_ID
from merchants.main import create_app
from merchants.settings import Settings

TEST_HEADERS = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
AUTH_ERROR = {"error": {"code": "AUTHENTICATION_ERROR", "description": "Invalid API credentials"}}


async def test_test_merchant_endpoint_has_the_contract_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/test/merchant")
    assert response.status_code == 200
    assert response.json() == {
        "id": str(TEST_MERCHANT_ID),
        "email": "test@example.com",
        "api_key": "key_test_abc123",
        "seeded": True,
    }


async def test_the_checkout_reads_a_merchants_name_and_nothing_else(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(f"/api/v1/merchant/{TEST_MERCHANT_ID}/public")
    assert response.status_code == 200
    assert response.json() == {"id": str(TEST_MERCHANT_ID), "name": "Test Merchant"}
    missing = await client.get("/api/v1/merchant/00000000-0000-0000-0000-000000000000/public")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "NOT_FOUND_ERROR"
    not_an_id = await client.get("/api/v1/merchant/key_test_abc123/public")
    assert not_an_id.status_code == 400
    assert not_an_id.json()["error"]["code"] == "BAD_REQUEST_ERROR"


async def test_dashboard_login_token_opens_the_merchant_profile(client: httpx.AsyncClient) -> None:
    login = await client.post(
        "/api/v1/auth/login", json={"email": "test@example.com", "password": "x"}
    )
    assert login.status_code == 200
    body = login.json()
    assert body["token_type"] == "bearer"
    assert body["expires_at"].endswith("Z")
    assert body["merchant"]["api_key"] == "key_test_abc123"
    assert body["merchant"]["api_secret"] is None
    assert "secret_test_xyz789" not in login.text
    bearer = {"Authorization": f"Bearer {body['token']}"}
    me = await client.get("/api/v1/merchant", headers=bearer)
    assert me.status_code == 200
    assert me.json()["api_secret"] == "secret_test_xyz789"  # public test configuration
    assert me.json()["id"] == str(TEST_MERCHANT_ID)
    assert (await client.post("/api/v1/auth/logout", headers=bearer)).status_code == 204
    assert (await client.get("/api/v1/merchant", headers=bearer)).json() == AUTH_ERROR


async def test_bad_login_is_401_and_bad_body_is_400(client: httpx.AsyncClient) -> None:
    wrong = await client.post(
        "/api/v1/auth/login", json={"email": "no@example.com", "password": "x"}
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == {
        "code": "AUTHENTICATION_ERROR",
        "description": "Invalid email or password",
    }
    missing = await client.post("/api/v1/auth/login", json={"email": "test@example.com"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "BAD_REQUEST_ERROR"


LOGIN_FAILED = {
    "error": {"code": "AUTHENTICATION_ERROR", "description": "Invalid email or password"}
}


@pytest.mark.parametrize(
    ("environment", "test_mode", "allowed"),
    [
        ("production", False, False),
        ("dev", False, True),
        ("dev", True, True),
        ("test", False, True),
    ],
)
async def test_test_merchant_logs_in_without_a_password_only_in_a_test_setup(
    settings: Settings, environment: str, test_mode: bool, allowed: bool
) -> None:
    # Copied without validation: production also refuses the test servers' development password.
    configured = settings.model_copy(update={"environment": environment, "test_mode": test_mode})
    async with (
        LifespanManager(create_app(configured)) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://t") as c,
    ):
        login = await c.post(
            "/api/v1/auth/login", json={"email": "test@example.com", "password": "x"}
        )
    if allowed:
        assert login.status_code == 200
    else:
        assert (login.status_code, login.json()) == (401, LOGIN_FAILED)  # as a wrong password


async def test_another_merchant_without_a_password_never_logs_in(
    client: httpx.AsyncClient, other_merchant: dict[str, str]
) -> None:
    email = (await client.get("/api/v1/merchant", headers=other_merchant)).json()["email"]
    for password in ("", "anything"):
        login = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert (login.status_code, login.json()) == (401, LOGIN_FAILED)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Api-Key": "key_test_abc123"}, {**TEST_HEADERS, "X-Api-Secret": "nope"}],
)
async def test_profile_needs_credentials(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/api/v1/merchant", headers=headers)
    assert (response.status_code, response.json()) == (401, AUTH_ERROR)


async def test_internal_authenticate_answers_principal_or_401(client: httpx.AsyncClient) -> None:
    ok = await client.post(
        "/internal/v1/authenticate",
        json={"api_key": "key_test_abc123", "api_secret": "secret_test_xyz789"},
    )
    assert ok.json() == {
        "merchant_id": str(TEST_MERCHANT_ID),
        "credential": "api_key",
        "currencies": None,
    }
    refused = await client.post(
        "/internal/v1/authenticate", json={"api_key": "key_test_abc123", "api_secret": "x"}
    )
    assert refused.status_code == 401


async def test_no_service_but_webhooks_hands_out_webhook_secrets(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get(f"/internal/v1/merchants/{TEST_MERCHANT_ID}")).status_code == 404
    profile = await client.get("/api/v1/merchant", headers=TEST_HEADERS)
    assert "whsec_" not in profile.text


def test_operator_cli_creates_a_merchant_that_can_authenticate_and_log_in(
    database_urls: dict[str, str], redis_url: str
) -> None:
    env = {**os.environ, "DATABASE_URL": database_urls["merchants"], "REDIS_URL": redis_url}

    def create(email: str, *extra: str) -> dict[str, str]:
        created = subprocess.run(
            [sys.executable, "-m", "merchants.cli", "create-merchant", "--name", "CLI Shop",
             "--email", email, *extra],
            env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        return json.loads(created.stdout)  # type: ignore[no-any-return]

    generated = create("cli-shop@example.com")
    assert generated["api_secret"].startswith("secret_")
    assert len(generated["password"]) >= 24  # generated, printed this once
    chosen = create("cli-chosen@example.com", "--password", "correct horse battery")
    assert "password" not in chosen  # the operator's own is not echoed

    async def check() -> list[int]:
        settings = Settings(database_url=database_urls["merchants"], redis_url=redis_url)
        async with (
            LifespanManager(create_app(settings)) as manager,
            httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://t") as c,
        ):
            headers = {"X-Api-Key": generated["api_key"], "X-Api-Secret": generated["api_secret"]}
            codes = [(await c.get("/api/v1/merchant", headers=headers)).status_code]
            for email, password in [
                ("cli-shop@example.com", generated["password"]),
                ("cli-chosen@example.com", "correct horse battery"),
                ("cli-shop@example.com", "wrong"),
            ]:
                login = {"email": email, "password": password}
                codes.append((await c.post("/api/v1/auth/login", json=login)).status_code)
            return codes

    assert asyncio.run(check()) == [200, 200, 200, 401]


def test_operator_cli_refuses_a_short_password(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["create-merchant", "--name", "S", "--email", "s@example.com", "--password", "short"]
    with pytest.raises(SystemExit) as exited:
        cli.main(args)
    assert exited.value.code == 2
    assert "at least 12 characters" in capsys.readouterr().err


async def test_other_merchants_secrets_are_never_shown(
    client: httpx.AsyncClient, other_merchant: dict[str, str]
) -> None:
    profile = (await client.get("/api/v1/merchant", headers=other_merchant)).json()
    assert profile["api_secret"] is None
    assert other_merchant["X-Api-Secret"] not in json.dumps(profile)


async def test_an_email_with_too_many_failed_logins_is_refused_429_even_with_its_password(
    client: httpx.AsyncClient, database_urls: dict[str, str]
) -> None:
    email = f"guessed-{os.urandom(4).hex()}@example.com"
    pool = await asyncpg.create_pool(database_urls["merchants"], init=init_connection)
    assert pool is not None
    try:
        await service.create_merchant(Database(pool), "Guessed", email, "right-password-123")
    finally:
        await pool.close()
    wrong = {"email": email, "password": "wrong-password"}
    statuses = [
        (await client.post("/api/v1/auth/login", json=wrong)).status_code for _ in range(10)
    ]
    assert statuses == [401] * 10
    right = await client.post(
        "/api/v1/auth/login", json={**wrong, "password": "right-password-123"}
    )
    assert right.status_code == 429
    assert right.json()["error"]["code"] == "RATE_LIMIT_ERROR"
    assert 1 <= int(right.headers["Retry-After"]) <= 900


async def merchant_with_password(database_urls: dict[str, str], email: str, password: str) -> None:
    pool = await asyncpg.create_pool(database_urls["merchants"], init=init_connection)
    assert pool is not None
    try:
        await service.create_merchant(Database(pool), "Guessed", email, password)
    finally:
        await pool.close()


async def test_a_concurrent_burst_of_wrong_passwords_gets_no_more_tries_than_the_quota(
    settings: Settings, database_urls: dict[str, str]
) -> None:
    email = f"burst-{os.urandom(6).hex()}@example.com"
    await merchant_with_password(database_urls, email, "right-password-123")
    wide = settings.model_copy(update={"login_concurrent_checks": 64})  # the throttle alone
    async with (
        LifespanManager(create_app(wide)) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(manager.app), base_url="http://t") as c,
    ):
        wrong = {"email": email, "password": "wrong-password"}
        burst = await asyncio.gather(*(c.post("/api/v1/auth/login", json=wrong) for _ in range(40)))
        right = await c.post("/api/v1/auth/login", json={**wrong, "password": "right-password-123"})
    statuses = sorted(answer.status_code for answer in burst)
    assert statuses == [401] * 10 + [429] * 30  # checking, then counting, let all 40 through
    assert right.status_code == 429


async def test_spellings_of_one_email_share_its_failed_logins(
    client: httpx.AsyncClient, database_urls: dict[str, str]
) -> None:
    # Postgres finds the merchant by `lower(email)`, which reads `İ` as `i`; Python's lower()
    # makes it `i̇` (two characters), so counting by Python's spelling gave each its own quota.
    tag = os.urandom(6).hex()
    await merchant_with_password(database_urls, f"istanbul-{tag}@example.com", "right-pass-123")
    spellings = [f"istanbul-{tag}@example.com", f"İSTANBUL-{tag}@example.com"]
    for attempt in range(10):
        wrong = {"email": spellings[attempt % 2], "password": "wrong-password"}
        assert (await client.post("/api/v1/auth/login", json=wrong)).status_code == 401
    for spelling in spellings:
        right = {"email": spelling, "password": "right-pass-123"}
        assert (await client.post("/api/v1/auth/login", json=right)).status_code == 429


async def test_a_login_flood_is_refused_429_and_api_authentication_stays_available(
    client: httpx.AsyncClient,
) -> None:
    async def flood() -> list[httpx.Response]:
        logins = (
            client.post(
                "/api/v1/auth/login", json={"email": f"flood-{i}@example.com", "password": "x"}
            )
            for i in range(40)
        )
        return list(await asyncio.gather(*logins))

    async def authenticate() -> list[int]:
        answers = []
        for _ in range(20):
            body = {"api_key": "key_test_abc123", "api_secret": "secret_test_xyz789"}
            answers.append((await client.post("/internal/v1/authenticate", json=body)).status_code)
        return answers

    logins, authentications = await asyncio.gather(flood(), authenticate())
    assert authentications == [200] * 20
    refused = [answer for answer in logins if answer.status_code == 429]
    assert refused, "forty logins at once were all hashed"
    assert {answer.headers["Retry-After"] for answer in refused} == {"1"}
    assert {answer.status_code for answer in logins} == {401, 429}


async def test_a_merchant_limits_its_currencies_and_every_answer_says_so(
    client: httpx.AsyncClient, other_merchant: dict[str, str]
) -> None:
    headers = other_merchant
    limited = await client.put(
        "/api/v1/merchant/currencies", json={"currencies": ["USD", "INR", "USD"]}, headers=headers
    )
    assert limited.status_code == 200, limited.text
    assert limited.json()["currencies"] == ["INR", "USD"]
    assert (await client.get("/api/v1/merchant", headers=headers)).json()["currencies"] == [
        "INR", "USD"
    ]  # fmt: skip
    credentials = {"api_key": headers["X-Api-Key"], "api_secret": headers["X-Api-Secret"]}
    principal = await client.post("/internal/v1/authenticate", json=credentials)
    assert principal.json()["currencies"] == ["INR", "USD"]
    for body, description in (
        ({"currencies": ["ABC"]}, "ABC is not the ISO 4217 code of a currency in use"),
        ({"currencies": []}, "currencies must name at least one currency, or be null for all"),
    ):
        refused = await client.put("/api/v1/merchant/currencies", json=body, headers=headers)
        assert refused.status_code == 400
        assert refused.json()["error"]["description"] == description
    cleared = await client.put(
        "/api/v1/merchant/currencies", json={"currencies": None}, headers=headers
    )
    assert cleared.json()["currencies"] is None
