from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer

MAX_DEPTH = 32  # the deepest body the API documents is 3 levels; anything this deep is not a request of ours


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the API accepts."
    default_code = "request_too_large"


class JSONAndProblemRenderer(JSONRenderer):
    """JSON for both; error responses set their own `application/problem+json` content type."""


class StrictJSONParser(JSONParser):
    """JSON whose every string is valid Unicode text: a lone surrogate ("\\ud800") parses in Python but
    cannot be stored or written to the import's UTF-8 files, so it is a malformed request up front."""

    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and length.isdigit() and int(length) > settings.API_MAX_BODY_BYTES:
            raise RequestTooLarge(
                f"The request body is {int(length):,} bytes; the API accepts at most {settings.API_MAX_BODY_BYTES:,}."
            )
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.") from None
        _check_text(data)
        return data


def _check_text(value, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise ParseError(f"JSON parse error - nested more than {MAX_DEPTH} levels deep.")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ParseError("JSON parse error - a string is not valid Unicode text (lone surrogate).") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, depth + 1)
            _check_text(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_text(v, depth + 1)
