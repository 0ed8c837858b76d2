"""Limits a client meets at the edge: request bodies."""

from collections.abc import Iterator

import httpx
import pytest

AS_TEST_MERCHANT = {"X-Api-Key": "key_test_abc123", "X-Api-Secret": "secret_test_xyz789"}
TOO_LARGE = {"error": {"code": "BAD_REQUEST_ERROR", "description": "Request body is too large"}}


def padded_order(size: int) -> bytes:
    return b'{"amount": 5000, "receipt": "r", "notes": {"pad": "' + b"x" * size + b'"}}'


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_64_kib_is_refused_413_in_the_error_shape(
    api: httpx.Client, chunked: bool
) -> None:
    body = padded_order(70 * 1024)

    def stream() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    headers = {**AS_TEST_MERCHANT, "Content-Type": "application/json"}
    response = api.post("/api/v1/orders", content=stream() if chunked else body, headers=headers)
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    if chunked:  # the edge counted it and answered itself (a declared length the service refuses)
        assert "x-request-id" not in response.headers


def test_a_body_within_the_limit_reaches_the_service(api: httpx.Client) -> None:
    headers = {**AS_TEST_MERCHANT, "Content-Type": "application/json"}
    response = api.post("/api/v1/orders", content=padded_order(40 * 1024), headers=headers)
    assert response.status_code == 400  # the service's own rule: a note is at most 512 chars
    assert "notes" in response.json()["error"]["description"]


def test_every_refusal_of_a_large_body_arrives_whole(api: httpx.Client) -> None:
    # A service that answered without reading the body closed on unread data; the reset that
    # followed erased the 413 at the edge about one time in twenty (the client saw the headers
    # and then nothing). And a body refused mid-stream by the edge left its tail on a kept-alive
    # connection, answered 431 as if it were the next request.
    headers = {**AS_TEST_MERCHANT, "Content-Type": "application/json"}
    answers = [
        api.post("/api/v1/payments", content=padded_order(size), headers=headers)
        for size in [70 * 1024, 200 * 1024, 900 * 1024] * 20
    ]
    assert {(answer.status_code, str(answer.json())) for answer in answers} == {
        (413, str(TOO_LARGE))
    }
