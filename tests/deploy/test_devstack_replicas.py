"""`DEVSTACK_REPLICAS` names how many processes `make up` runs per API or worker."""

import pytest

from devstack.stack import parse_replicas


def test_replicas_are_read_per_program_and_never_below_one() -> None:
    assert parse_replicas("") == {}
    assert parse_replicas("orders-api=2, webhooks-worker=3,payments-api=0") == {
        "orders-api": 2,
        "webhooks-worker": 3,
        "payments-api": 1,
    }
    with pytest.raises(ValueError, match="invalid literal"):
        parse_replicas("orders-api=two")
