"""Reads from other services' internal APIs."""

from uuid import UUID

import httpx

from kit.errors import Unavailable


class MerchantsClient:
    """`GET /internal/v1/merchants/{id}` on the merchants service: the initial webhook secret."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def initial_secret(self, merchant_id: UUID) -> str | None:
        try:
            response = await self._client.get(f"/internal/v1/merchants/{merchant_id}")
        except httpx.HTTPError as exc:
            raise Unavailable("Merchants service unavailable") from exc
        if response.status_code != 200:
            raise Unavailable("Merchants service unavailable")
        secret: str | None = response.json().get("webhook_secret")
        return secret
