import re

from kit.ids import new_id


def test_ids_are_prefix_plus_sixteen_alphanumerics() -> None:
    for _ in range(200):
        assert re.fullmatch(r"order_[A-Za-z0-9]{16}", new_id("order_"))


def test_ids_do_not_repeat() -> None:
    ids = {new_id("pay_") for _ in range(10_000)}
    assert len(ids) == 10_000
