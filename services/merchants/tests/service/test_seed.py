import asyncpg

from kit.migrate import run as migrate
from merchants.domain import TEST_MERCHANT_ID


async def test_seed_is_idempotent_and_matches_the_contract(database_urls: dict[str, str]) -> None:
    url = database_urls["merchants"]
    await migrate("merchants", url)  # the session already ran it once; a second run changes nothing
    await migrate("merchants", url)
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT * FROM merchant WHERE lower(email) = 'test@example.com'")
        keys = await conn.fetch("SELECT * FROM api_key WHERE merchant_id = $1", TEST_MERCHANT_ID)
    finally:
        await conn.close()
    assert len(rows) == 1
    [row] = rows
    assert row["id"] == TEST_MERCHANT_ID
    assert row["name"] == "Test Merchant"
    assert row["webhook_secret"] is None  # the webhooks service owns it
    assert [k["key"] for k in keys] == ["key_test_abc123"]
    assert "secret_test_xyz789" not in str(dict(row)) + str([dict(k) for k in keys])
