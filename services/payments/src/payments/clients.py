"""Reads from other services' internal APIs."""

from urllib.parse import quote
from uuid import UUID

import httpx

from kit.errors import Unavailable
from payments.domain import OrderRef


class OrdersClient:
    """`GET /internal/v1/orders/{id}` on the orders service."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def get_order(self, order_id: str) -> OrderRef | None:
        try:
            response = await self._client.get(f"/internal/v1/orders/{quote(order_id, safe='')}")
        except httpx.HTTPError as exc:
            raise Unavailable("Orders service unavailable") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Unavailable("Orders service unavailable")
        body = response.json()
        return OrderRef(body["id"], UUID(body["merchant_id"]), body["amount"], body["currency"])
