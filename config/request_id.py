"""Request-Id: one id per request, on its response, in its problem+json body and in every log line.

The middleware runs first (settings.MIDDLEWARE), so every answer carries the header: the API's and the
site's pages, problems, Django's own 404/500 pages, throttled requests, redirects. A client may send
its own id (`Request-Id` or `X-Request-Id`) to follow a call through its logs and ours; it is used
only if it is a safe token (1 to 64 of `A-Z a-z 0-9 . _ -`): a header value ends up in log lines and
answers, where anything else could forge a line or break a parser. Otherwise the id is a fresh uuid4
(hex).

The id lives in a context variable for the request's duration; a log record factory stamps it on
every record made meanwhile (`request_id`; `-` outside a request), so handlers, pytest's caplog and
formatters see it, and `RequestIdFilter` gives the attribute to records made before the factory was
installed (the logging configuration's formatter uses `%(request_id)s`).
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

HEADER = "Request-Id"
CLIENT_HEADERS = ("HTTP_REQUEST_ID", "HTTP_X_REQUEST_ID")
SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
NONE = "-"

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_installed = False


def current() -> str | None:
    """The id of the request being served, None outside one."""
    return _current.get()


def from_client(meta: dict) -> str | None:
    for name in CLIENT_HEADERS:
        value = meta.get(name)
        if value is not None and SAFE_ID.fullmatch(value):
            return value
    return None


def install_record_factory() -> None:
    """Every log record made from now on carries `request_id` (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = _current.get() or NONE
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


class RequestIdFilter(logging.Filter):
    """For the logging configuration's handlers: `%(request_id)s` never fails, in any process."""

    def __init__(self, name: str = ""):
        super().__init__(name)
        install_record_factory()

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _current.get() or NONE
        return True


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        install_record_factory()

    def __call__(self, request):
        request_id = from_client(request.META) or uuid.uuid4().hex
        request.request_id = request_id
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response
