"""Reads from other services' internal APIs."""

from urllib.parse import quote
from uuid import UUID

import httpx

from kit.errors import Unavailable
from refunds.domain import PaymentRef


class PaymentsClient:
    """`GET /internal/v1/payments/{id}` on the payments service."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def get_payment(self, payment_id: str) -> PaymentRef | None:
        try:
            response = await self._client.get(f"/internal/v1/payments/{quote(payment_id, safe='')}")
        except httpx.HTTPError as exc:
            raise Unavailable("Payments service unavailable") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Unavailable("Payments service unavailable")
        body = response.json()
        return PaymentRef(
            body["id"], UUID(body["merchant_id"]), body["amount"], body["currency"], body["status"]
        )
