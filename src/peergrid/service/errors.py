"""Service errors: each is a :class:`~peergrid.PeergridError` with an HTTP status (always 4xx).

The app turns every one of them — and peergrid's ``ConfigError``/``DataError``,
request validation errors and database integrity errors — into a JSON body
``{"error": "<kind>", "detail": "<one line>"}``; never a 500 for bad input.
"""

from __future__ import annotations

from peergrid.core.errors import PeergridError


class ServiceError(PeergridError):
    """Base of the service's user-facing errors."""

    status_code: int = 400
    kind: str = "bad_request"
    #: Further keys of the JSON error body (e.g. ``{"index": 3, "field": "price"}`` for a batch entry).
    extra: dict[str, object] | None = None


class Unauthorized(ServiceError):
    status_code = 401
    kind = "unauthorized"


class Forbidden(ServiceError):
    status_code = 403
    kind = "forbidden"


class NotFound(ServiceError):
    status_code = 404
    kind = "not_found"


class Conflict(ServiceError):
    status_code = 409
    kind = "conflict"


class InsufficientFunds(Conflict):
    kind = "insufficient_funds"


class Invalid(ServiceError):
    status_code = 422
    kind = "invalid"


class RateLimited(ServiceError):
    status_code = 429
    kind = "rate_limited"

    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after
