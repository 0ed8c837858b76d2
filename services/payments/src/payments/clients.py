"""Reads from other services' internal APIs."""

import time
from urllib.parse import quote
from uuid import UUID

import httpx

from kit.errors import Unavailable
from payments.domain import OrderRef


class OrdersClient:
    """`GET /internal/v1/orders/{id}` on the orders service, cached: these fields never change."""

    def __init__(self, client: httpx.AsyncClient, ttl: float = 300.0, max_entries: int = 10_000):
        self._client = client
        self._ttl = ttl
        self._max_entries = max_entries
        self._cache: dict[str, tuple[float, OrderRef]] = {}

    async def get_order(self, order_id: str) -> OrderRef | None:
        cached = self._cache.get(order_id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        try:
            response = await self._client.get(f"/internal/v1/orders/{quote(order_id, safe='')}")
        except httpx.HTTPError as exc:
            raise Unavailable("Orders service unavailable") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise Unavailable("Orders service unavailable")
        body = response.json()
        order = OrderRef(body["id"], UUID(body["merchant_id"]), body["amount"], body["currency"])
        if len(self._cache) >= self._max_entries:
            self._cache.clear()
        self._cache[order_id] = (time.monotonic() + self._ttl, order)
        return order
