"""One error hierarchy: categories map to HTTP in kit.http, codes follow the public contract."""

from typing import ClassVar


class GatewayError(Exception):
    """An expected failure with a contract error code; never a 5xx."""

    code: ClassVar[str] = "BAD_REQUEST_ERROR"
    description: str = "Bad request"

    def __init__(self, description: str | None = None) -> None:
        if description is not None:
            self.description = description
        super().__init__(self.description)


class InvalidRequest(GatewayError):
    code = "BAD_REQUEST_ERROR"


class Unauthenticated(GatewayError):
    code = "AUTHENTICATION_ERROR"
    description = "Invalid API credentials"


class Forbidden(GatewayError):
    code = "FORBIDDEN_ERROR"
    description = "Not allowed with these credentials"


class NotFound(GatewayError):
    code = "NOT_FOUND_ERROR"
    description = "Not found"


class Conflict(GatewayError):
    code = "CONFLICT_ERROR"
    description = "Conflict"


class PayloadTooLarge(GatewayError):
    code = "BAD_REQUEST_ERROR"
    description = "Request body is too large"


class RateLimited(GatewayError):
    code = "RATE_LIMIT_ERROR"
    description = "Too many requests; retry later"

    def __init__(self, limit: int = 0, retry_after: int = 1) -> None:
        super().__init__()
        self.limit = limit
        self.retry_after = retry_after


class Unavailable(GatewayError):
    """A dependency is down; the caller may retry."""

    code = "SERVICE_UNAVAILABLE"
    description = "Service temporarily unavailable"
