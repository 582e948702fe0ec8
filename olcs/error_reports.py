"""Django's error reports (the technical pages of DEBUG, the error e-mails, the traceback logs)
without a secret or a patron's personal data in them.

Django's own filter hides settings by name only, and only outside DEBUG; a URL setting such as
DATABASE_URL or a cache LOCATION passed through with its password, and every frame below a
`@sensitive_variables` view showed its local variables (a submission's email and name). This
filter is active in development too, hides settings by a wider name pattern and by value (any
`scheme://user:password@` URL), every request body, cookie, query value and local variable;
the page keeps the exception, the frames' code and the variables' names.
"""

from __future__ import annotations

import re
from types import FrameType
from typing import Any

from django.http import HttpRequest
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

# Credentials inside a URL: postgres://user:password@host, redis://:password@host.
URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s'\"]*@", re.IGNORECASE)
CLEANSED = SafeExceptionReporterFilter.cleansed_substitute
# Request headers whose values are safe to show and help reading a report; any other header
# (Authorization, Cookie, a proxy's or a client's own) and every environment variable runserver
# copies into META is hidden.
SAFE_META = frozenset(
    {
        "CONTENT_LENGTH",
        "CONTENT_TYPE",
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_ACCEPT_LANGUAGE",
        "HTTP_HOST",
        "HTTP_USER_AGENT",
        "HTTP_X_REQUEST_ID",
        "PATH_INFO",
        "REMOTE_ADDR",
        "REQUEST_METHOD",
        "SCRIPT_NAME",
        "SERVER_NAME",
        "SERVER_PORT",
        "SERVER_PROTOCOL",
        "wsgi.url_scheme",
    }
)


def strip_url_credentials(text: str) -> str:
    """Every `scheme://user:password@` in `text` as `scheme://********************@`."""
    return URL_CREDENTIALS.sub(lambda match: f"{match['scheme']}{CLEANSED}@", text)


class OlcsExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        r"API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|COOKIE|CREDENTIAL|DSN|_URL$|^URL$|LOCATION|REDIS|BROKER",
        flags=re.IGNORECASE,
    )

    def is_active(self, request: HttpRequest | None) -> bool:
        # Django turns its filter off under DEBUG; the pages DEBUG shows are the ones at risk.
        return True

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        if isinstance(value, str):
            value = strip_url_credentials(value)
        return super().cleanse_setting(key, value)

    def get_safe_request_meta(self, request: HttpRequest | None) -> dict[str, Any]:
        if request is None or not hasattr(request, "META"):
            return {}
        return {
            key: strip_url_credentials(str(value)) if key in SAFE_META else CLEANSED
            for key, value in request.META.items()
        }

    def get_safe_cookies(self, request: HttpRequest | None) -> dict[str, str]:
        if request is None or not hasattr(request, "COOKIES"):
            return {}
        return dict.fromkeys(request.COOKIES, CLEANSED)

    def get_post_parameters(self, request: HttpRequest | None) -> dict[str, str]:
        # A form body holds what a patron typed; its field names are enough to read a report.
        if request is None:
            return {}
        return dict.fromkeys(request.POST, CLEANSED)

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: FrameType) -> list:
        # Any frame may hold a submission, a serializer's data or a raw key; names only.
        return [(name, CLEANSED) for name in tb_frame.f_locals]


class OlcsExceptionReporter(ExceptionReporter):
    """Django's report, with the query string's values hidden too and, as a last line, any URL
    credentials stripped from the text wherever they come from (an exception's message)."""

    def get_traceback_data(self) -> dict[str, Any]:
        data = super().get_traceback_data()
        if self.request is not None:
            data["request_GET_items"] = [(key, CLEANSED) for key in self.request.GET]
            data["request_insecure_uri"] = self._get_raw_insecure_uri().split("?", 1)[0]
        if "exception_value" in data:
            data["exception_value"] = strip_url_credentials(data["exception_value"])
        return data

    def get_traceback_html(self) -> str:
        return strip_url_credentials(super().get_traceback_html())

    def get_traceback_text(self) -> str:
        return strip_url_credentials(super().get_traceback_text())
