from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer


class JSONAndProblemRenderer(JSONRenderer):
    """JSON for both; error responses set their own `application/problem+json` content type."""


class StrictJSONParser(JSONParser):
    """JSON whose every string is valid Unicode text: a lone surrogate ("\\ud800") parses in Python but
    cannot be stored or written to the import's UTF-8 files, so it is a malformed request up front."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        _check_text(data)
        return data


def _check_text(value, depth: int = 0) -> None:
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
