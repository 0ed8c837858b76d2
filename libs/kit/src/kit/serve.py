"""Runs a service's API: `python -m kit.serve orders --port 8000 --internal-port 8001`.

uvicorn serves the one app on two sockets: the public port, which the edge routes to, and the
internal port, the only one where `/internal/v1/*` answers (the app learns it from
`INTERNAL_PORT`). NetworkPolicies can then admit other services to the internal port only.
"""

import argparse
import os

import uvicorn
from uvicorn.supervisors import Multiprocess

# On SIGTERM, requests in flight get this long to finish (the chart's grace period covers it).
GRACEFUL_SHUTDOWN_SECONDS = 20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kit.serve")
    parser.add_argument("service", help="the package whose main.create_app is served")
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - containers listen on all
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--internal-port", type=int, default=None)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    if args.internal_port:
        os.environ["INTERNAL_PORT"] = str(args.internal_port)  # read by kit.settings
    config = uvicorn.Config(
        f"{args.service}.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,  # kit.http logs each request
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        # Longer than any proxy in front keeps an idle upstream connection (Caddy 2 min,
        # ingress-nginx 60 s): else the proxy may send a request on a connection uvicorn is
        # closing (its default is 5 s) and answer 502.
        timeout_keep_alive=150,
    )
    sockets = [config.bind_socket()]
    if args.internal_port:
        internal = uvicorn.Config(config.app, host=args.host, port=args.internal_port)
        sockets.append(internal.bind_socket())
    if args.workers > 1:
        Multiprocess(config, sockets=sockets).run()
    else:
        uvicorn.Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
