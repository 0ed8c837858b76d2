"""The ui calls the API on behalf of browsers and says so, for the API's per-address limits."""

import httpx
from starlette.requests import Request

from ui.gateway import Gateway


def browser_request(forwarded_for: str | None, peer: str) -> Request:
    headers = [(b"x-forwarded-for", forwarded_for.encode())] if forwarded_for else []
    return Request({"type": "http", "headers": headers, "client": (peer, 51000)})


async def test_calls_carry_the_chain_of_addresses_the_browser_came_through() -> None:
    seen: list[str | None] = []

    def api(request: httpx.Request) -> httpx.Response:  # stands in for the network
        seen.append(request.headers.get("x-forwarded-for"))
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(api), base_url="http://a") as c:
        gateway = Gateway(c)
        await gateway.call("GET", "/x")
        await gateway.on_behalf_of(browser_request("203.0.113.9", "127.0.0.1")).call("GET", "/x")
        await gateway.on_behalf_of(browser_request(None, "198.51.100.4")).call("GET", "/x")
    assert seen == [None, "203.0.113.9, 127.0.0.1", "198.51.100.4"]
