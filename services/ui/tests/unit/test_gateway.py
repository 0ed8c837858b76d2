"""The ui calls the API on behalf of browsers and says who they are, for the API's per-address
limits: the address it read past its own trusted proxies, never the browser's header."""

import httpx
from starlette.requests import Request

from kit.limits import networks
from ui.gateway import Gateway

EDGE = networks(["127.0.0.0/8"])


def browser_request(forwarded_for: str | None, peer: str) -> Request:
    headers = [(b"x-forwarded-for", forwarded_for.encode())] if forwarded_for else []
    return Request({"type": "http", "headers": headers, "client": (peer, 51000)})


async def test_calls_name_the_client_read_past_the_proxies_never_the_browsers_header() -> None:
    seen: list[str | None] = []

    def api(request: httpx.Request) -> httpx.Response:  # stands in for the network
        seen.append(request.headers.get("x-forwarded-for"))
        return httpx.Response(200, json={})

    async with httpx.AsyncClient(transport=httpx.MockTransport(api), base_url="http://a") as c:
        gateway = Gateway(c, EDGE)
        await gateway.call("GET", "/x")
        # Through the edge: the edge appended the browser's address to what the browser forged.
        via_edge = browser_request("192.0.2.1, 203.0.113.9", "127.0.0.1")
        await gateway.on_behalf_of(via_edge).call("GET", "/x")
        # Straight from a browser that forged a header: its own address, the header ignored.
        await gateway.on_behalf_of(browser_request("192.0.2.1", "198.51.100.4")).call("GET", "/x")
        # A private peer that is not a configured proxy is a client like any other.
        await gateway.on_behalf_of(browser_request("192.0.2.1", "10.0.0.7")).call("GET", "/x")
    assert seen == [None, "203.0.113.9", "198.51.100.4", "10.0.0.7"]
