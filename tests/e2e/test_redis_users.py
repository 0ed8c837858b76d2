"""Each service reaches Redis as its own ACL user (devstack.provision.redis_acl, the same rules
compose and the chart's development Redis load): its streams, its relay's channel and the
shared counters, nothing else. The e2e suite is what each user may do; here what it may not."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from redis.exceptions import NoPermissionError

from devstack.provision import QUEUES, REDIS_STREAMS, redis_acl
from devstack.servers import start_redis
from devstack.stack import Stack

PASSWORDS = {user: f"pw-{user}" for user in ("default", *REDIS_STREAMS)}
FORBIDDEN_COMMANDS = [("FLUSHALL",), ("KEYS", "*"), ("CONFIG", "GET", "*"), ("ACL", "LIST"),
                      ("SHUTDOWN",), ("DEBUG", "SLEEP", "0"), ("SCRIPT", "FLUSH")]  # fmt: skip


def test_a_service_user_is_refused_what_is_not_its_own(tmp_path: Path) -> None:
    acl = tmp_path / "users.acl"
    acl.write_text(redis_acl(PASSWORDS))
    server = start_redis(tmp_path / "redis", durable=False, acl_file=acl)
    port = server.url.rsplit(":", 1)[1].split("/")[0]
    try:
        for service, streams in REDIS_STREAMS.items():
            url = f"redis://{service}:{PASSWORDS[service]}@127.0.0.1:{port}/0"
            with redis.Redis.from_url(url) as client:
                # what it may: its streams, its channel, the shared counters (the control)
                for queue in streams:
                    client.xadd(queue, {b"data": b"{}"})
                client.publish(f"outbox:{service}", b"")
                client.incr("ratelimit:address:test:1")
                client.set("gateway:worker:x:heartbeat", "now", ex=5)
                # what it may not
                for queue in sorted(set(QUEUES) - set(streams)):
                    with pytest.raises(NoPermissionError):
                        client.xadd(queue, {b"data": b"{}"})
                    with pytest.raises(NoPermissionError):
                        client.xrange(queue)
                for other in sorted(set(REDIS_STREAMS) - {service}):
                    with pytest.raises(NoPermissionError):
                        client.publish(f"outbox:{other}", b"")
                for command in FORBIDDEN_COMMANDS:
                    with pytest.raises(NoPermissionError):
                        client.execute_command(*command)
                if service == "merchants":
                    client.get("login-failures:x")
                else:
                    with pytest.raises(NoPermissionError):
                        client.get("login-failures:x")
                with pytest.raises(NoPermissionError):
                    client.get("anything:else")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(f"redis://orders:wrong@127.0.0.1:{port}/0").ping()
    finally:
        server.stop()


def test_every_process_of_the_stack_connects_as_its_own_service(stack: Stack) -> None:
    if os.environ.get("REDIS_URL"):
        pytest.skip("REDIS_URL names a Redis the stack does not manage users of")
    with redis.Redis.from_url(stack.redis_url) as admin:
        users = {c["user"] for c in admin.client_list()}
    assert set(REDIS_STREAMS) <= users, users  # every service's user is connected
    for process in stack.processes:  # and each process was given its own user, the ui none
        service = process.name.rsplit("-", 1)[0]
        environ = Path(f"/proc/{process.popen.pid}/environ").read_bytes().split(b"\0")
        env = dict(e.decode().partition("=")[::2] for e in environ if b"=" in e)
        if service in REDIS_STREAMS:
            assert urlsplit(env["REDIS_URL"]).username == service, process.name
        elif process.name == "ui-api":
            assert "REDIS_URL" not in env, process.name
