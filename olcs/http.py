"""The HTTP edge: request ids, body limits, and the one error shape of API.md.

Every error, from DRF or from Django itself, leaves as
`{"detail": "...", "code": "..."}` (plus `"errors"` for validation), never with a stack
trace, SQL or a secret.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.views import exception_handler as drf_exception_handler

from olcs.keys import KEY_PREFIX_MARK
from olcs.logs import current_request_id

logger = logging.getLogger("olcs.request")

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is unavailable. Try again later."
    default_code = "service_unavailable"


class RateLimited(exceptions.APIException):
    """429: the caller used up a rate limit (the libraries' limits: tenants/ratelimit.py).

    `wait` (whole seconds, at least 1) leaves as `Retry-After`: DRF's handler sends the `wait`
    of any APIException. Not DRF's `Throttled`, which would append its own sentence to the detail.
    """

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "Rate limit exceeded"
    default_code = "rate_limited"

    def __init__(self, *, wait: int) -> None:
        super().__init__()
        self.wait = max(1, wait)


def error_body(detail: str, code: str, errors: dict | None = None) -> dict:
    body: dict[str, object] = {"detail": detail, "code": code}
    if errors is not None:
        body["errors"] = errors
    return body


def json_error(detail: str, code: str, status_code: int) -> JsonResponse:
    return JsonResponse(error_body(detail, code), status=status_code)


class RequestIdMiddleware:
    """Give every request an id (the client's when it sent a sane one), put it in every log
    line through a context variable, echo it in `X-Request-ID`, and log one access line."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        # An id shaped like an API key is replaced: it would put a secret in every log line.
        sane = _SANE_REQUEST_ID.fullmatch(incoming) and not incoming.startswith(f"{KEY_PREFIX_MARK}_")
        request_id = incoming if sane else uuid.uuid4().hex
        request.request_id = request_id
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration_ms = (time.perf_counter() - started) * 1000
            response[REQUEST_ID_HEADER] = request_id
            if settings.SERVER_TIMING:
                # How long the application took (W3C Server-Timing), for development and
                # benchmarks: in production it would time every request for an outsider.
                response["Server-Timing"] = f"app;dur={duration_ms:.2f}"
            tenant = getattr(request, "tenant", None)
            # The path only: query strings are not logged.
            logger.info(
                "%s %s %s",
                request.method,
                request.path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "duration_ms": round(duration_ms, 2),
                    "tenant": tenant.slug if tenant is not None else None,
                },
            )
            return response
        finally:
            current_request_id.reset(token)


class HttpsRequiredMiddleware:
    """With SECURE_SSL_REDIRECT, answer a plain-HTTP request that is not a read with a JSON 403.

    Django's SecurityMiddleware (next in line) redirects with a 301, which clients follow as a
    GET without the body: a POST would silently become a read. Reads keep their redirect, and
    SECURE_REDIRECT_EXEMPT (/health) is left alone as Django leaves it.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD"})

    def __init__(self, get_response):
        self.get_response = get_response
        self.exempt = [re.compile(pattern) for pattern in settings.SECURE_REDIRECT_EXEMPT]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.SECURE_SSL_REDIRECT
            and request.method not in self.SAFE_METHODS
            and not request.is_secure()
            and not any(pattern.search(request.path.lstrip("/")) for pattern in self.exempt)
        ):
            response = json_error(
                "This service takes requests other than GET and HEAD over HTTPS only: "
                "send it again to the https:// address.",
                "https_required",
                403,
            )
            response["X-Content-Type-Options"] = "nosniff"
            return response
        return self.get_response(request)


class BodySizeLimitMiddleware:
    """Answer 413 to a declared body over MAX_REQUEST_BODY_BYTES before anything reads it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error("Invalid Content-Length header.", "bad_request", 400)
        if length > settings.MAX_REQUEST_BODY_BYTES:
            return json_error(
                f"Request body too large: the limit is {settings.MAX_REQUEST_BODY_BYTES} bytes.",
                "payload_too_large",
                413,
            )
        return self.get_response(request)


# An answer lists this many invalid fields at most, then says `"errors_truncated": true`, so a
# body of a thousand bad items gets a small answer (and BoundedListField stops validating).
MAX_LISTED_ERRORS = 20


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as {"books.3.isbn": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = "non_field_errors" if key == "non_field_errors" and not prefix else str(key)
            flat.update(flatten_errors(value, f"{prefix}.{name}" if prefix else name))
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            flat.setdefault(prefix or "non_field_errors", []).extend(str(item) for item in detail)
        else:
            for index, item in enumerate(detail):
                if item:
                    flat.update(flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return flat


def api_exception_handler(exc: Exception, context: dict):
    """DRF's handler, reshaped into the contract's error body."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) if str(exc) and not str(exc).startswith("No ") else None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        # The database is down or locked past its timeout: retryable, so 503 rather than 500.
        logger.error("database unavailable", exc_info=exc)
        exc = ServiceUnavailable("The database is unavailable. Try again later.")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler500 answers, in JSON

    if isinstance(exc, exceptions.ValidationError):
        errors = flatten_errors(exc.detail)
        first = next(iter(errors.values()))[0] if errors else "Invalid input."
        truncated = len(errors) > MAX_LISTED_ERRORS
        if truncated:
            errors = dict(list(errors.items())[:MAX_LISTED_ERRORS])
        response.data = error_body(f"Invalid input: {first}", "invalid", errors)
        if truncated:
            response.data["errors_truncated"] = True
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        if isinstance(detail, (list, dict)):
            errors = flatten_errors(detail)
            response.data = error_body("Invalid request.", "invalid", errors)
        else:
            code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
            response.data = error_body(str(detail), str(code))
    return response


# --- Django's own error views, in the same shape ---------------------------------------


def bad_request(request, exception=None):
    return json_error("Bad request.", "bad_request", 400)


def permission_denied(request, exception=None):
    return json_error("You do not have permission to perform this action.", "permission_denied", 403)


def page_not_found(request, exception=None):
    return json_error("Not found.", "not_found", 404)


def server_error(request):
    return json_error(
        "Internal server error. Quote the X-Request-ID header when reporting it.", "server_error", 500
    )


def csrf_failure(request, reason: str = ""):
    return json_error("CSRF verification failed.", "csrf_failed", 403)
