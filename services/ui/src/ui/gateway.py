"""The UI's only way to the gateway: its public API, as the signed-in merchant."""

from collections.abc import Sequence
from typing import Any

import httpx
from starlette.requests import Request

from kit.errors import GatewayError, Unauthenticated, Unavailable
from kit.limits import Network, client_address


class ApiError(GatewayError):
    """A 4xx answer of the API, shown to the user as it came."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.api_code = code


class Gateway:
    def __init__(
        self, client: httpx.AsyncClient, trusted: Sequence[Network] = (), forwarded_for: str = ""
    ) -> None:
        self._client = client
        self._trusted = trusted
        self._forwarded_for = forwarded_for

    def on_behalf_of(self, request: Request) -> "Gateway":
        """This gateway, telling the API who the browser is (the API's rate limits count per
        client address): the address the ui itself reads past its trusted proxies, alone, as
        X-Forwarded-For. The browser's own header is never passed on."""
        return Gateway(self._client, self._trusted, client_address(request, self._trusted))

    async def raw(
        self, method: str, path: str, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if self._forwarded_for:
            headers["X-Forwarded-For"] = self._forwarded_for
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return await self._client.request(method, path, headers=headers, **kw)
        except httpx.HTTPError as exc:
            raise Unavailable("The payment gateway is unreachable") from exc

    async def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> Any:
        response = await self.raw(method, path, token, **kw)
        if response.status_code == 204:
            return None
        body = response.json()
        if response.status_code == 401:
            raise Unauthenticated()
        if response.status_code >= 500:
            raise Unavailable("The payment gateway is unavailable; try again")
        if response.status_code >= 400:
            error = body.get("error", {})
            raise ApiError(
                response.status_code, error.get("code", ""), error.get("description", "")
            )
        return body
