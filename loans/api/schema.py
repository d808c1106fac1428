"""OpenAPI details drf-spectacular cannot infer: the Idempotency-Key header on every POST, and the
problem+json responses every operation can return (so the schema matches the responses exactly)."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

PROBLEM_COMPONENT = "Problem"
KEY_PATTERN = "^[!-~]{1,255}$"  # visible ASCII: any header-safe token, e.g. a UUID

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem details. `type` is stable; see docs/api.md for the list.",
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string", "description": "The answer's Request-Id: quote it when asking about a failure."},
        "errors": {
            "type": "array",
            "description": "Validation problems only: one entry per field and problem.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "nullable": True},
                    "message": {"type": "string"},
                    "code": {"type": "string"},
                },
                "required": ["field", "message", "code"],
            },
        },
    },
    "required": ["type", "title", "status", "detail"],
}

REQUEST_ID_HEADER = {
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
    "description": "This request's id (yours from Request-Id/X-Request-Id if it is a safe token, else ours).",
}

_DESCRIPTIONS = {
    "400": "Validation error, malformed JSON or missing Idempotency-Key",
    "401": "Missing, invalid, revoked or expired API key",
    "403": "The key lacks the scope",
    "404": "No such resource for this partner",
    "406": "Not acceptable",
    "409": "Conflict: a request with this Idempotency-Key is in flight, or the resource's state forbids the action",
    "415": "Unsupported media type",
    "422": "Idempotency-Key reused with a different request",
    "429": "Rate limit exceeded (see Retry-After)",
    "500": "Internal error",
}
_COMMON = ("400", "401", "403", "404", "406", "429", "500")
_WRITES = ("409", "415", "422")


class ProblemAwareAutoSchema(AutoSchema):
    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        if self.method == "POST":
            params.append(
                OpenApiParameter(
                    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
                    description="Unique per request (e.g. a UUID); a retry with the same key and body replays the response.",
                )
            )
        return params


# OpenAPI links from a create to the operations on what it created: documentation for partners, and the
# chains schemathesis follows in its stateful phase (create, then read, change, delete the same thing).
LINKS = {
    "merchants_create": ("merchant_id", ["merchants_retrieve", "merchants_update"]),
    "applications_create": (
        "application_id",
        ["applications_retrieve", "applications_decision_retrieve", "applications_withdraw", "offers_accept",
         "offers_reject"],
    ),
    "webhook_endpoints_create": (
        "endpoint_id",
        ["webhook_endpoints_retrieve", "webhook_endpoints_rotate_secret", "webhook_endpoints_delete"],
    ),
    "offers_accept": ("loan_id", ["loans_retrieve"]),
}


def _add_links(operation: dict) -> None:
    link = LINKS.get(operation.get("operationId"))
    if link is None:
        return
    parameter, targets = link
    response = operation["responses"].get("201") or operation["responses"].get("200")
    if response is not None:
        response["links"] = {
            "".join(part.title() for part in target.split("_")): {
                "operationId": target, "parameters": {parameter: "$response.body#/id"},
            }
            for target in targets
        }
        if operation["operationId"] == "merchants_create":
            response["links"]["ApplicationsCreate"] = {
                "operationId": "applications_create",
                "requestBody": {
                    "merchant_id": "$response.body#/merchant_id", "amount": "5000.00", "term_months": 12,
                    "purpose": "inventory",
                },
            }


def add_problem_responses(result, generator, request, public):
    """Postprocessing hook: every operation documents its problem responses as application/problem+json."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas[PROBLEM_COMPONENT] = PROBLEM_SCHEMA
    for name, component in schemas.items():
        # Request bodies are strict (serializers.StrictIn): an unknown key is a 400, so say so.
        if name.endswith("Request") and component.get("type") == "object":
            component["additionalProperties"] = False
    ref = {"$ref": f"#/components/schemas/{PROBLEM_COMPONENT}"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            for parameter in operation.get("parameters", []):
                # Bounds spectacular's OpenApiParameter cannot express.
                if parameter["in"] == "header" and parameter["name"] == "Idempotency-Key":
                    parameter["schema"] = {"type": "string", "pattern": KEY_PATTERN, "minLength": 1, "maxLength": 255}
                elif parameter["in"] == "query" and parameter["name"] == "wait":
                    parameter["schema"] = {"type": "integer", "minimum": 0, "maximum": 10}
            responses = operation.setdefault("responses", {})
            _add_links(operation)
            codes = _COMMON + (_WRITES if method in ("post", "patch", "put", "delete") else ())
            for code in codes:
                responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
            for code, response in responses.items():
                response.setdefault("headers", {})["Request-Id"] = REQUEST_ID_HEADER
                if code[0] in "45":
                    response["content"] = {"application/problem+json": {"schema": ref}}
                    if code == "429":
                        response["headers"]["Retry-After"] = {
                            "schema": {"type": "integer"}, "description": "Seconds to wait."
                        }
    return result
