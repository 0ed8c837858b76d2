"""The ports a stack's servers get: distinct (one port for two servers made one answer the
other's requests: an e2e test saw `POST /api/v1/orders` answered 404 by the merchants API), and
outside the range where the kernel picks outgoing connections' local ports."""

from devstack.servers import _below_ephemeral, free_port


def test_free_ports_are_never_handed_out_twice_nor_from_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(2000)]  # the kernel's port 0 repeats within this many
    assert len(set(ports)) == len(ports)
    assert max(ports) < _below_ephemeral()
