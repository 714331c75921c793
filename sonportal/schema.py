"""The error answers every API operation can give, added to the OpenAPI schema in one place.

Views document the answers of their own logic (a 409 for a rate already set at that instant);
the ones that come from the framework around them are the same everywhere, so this hook adds
them to every operation that can get them: 400 for input, 401/403 for credentials and
permissions, 404 for an object in the path, 411/413/415 for request bodies (the body limit in
sonportal.middleware, DRF's parsers), 429 for throttled writes.
"""

ERROR = "Error"
VALIDATION_ERROR = "ValidationError"

_SCHEMAS = {
    ERROR: {
        "type": "object",
        "properties": {"detail": {"type": "string"}, "code": {"type": "string"}},
        "required": ["detail"],
    },
    VALIDATION_ERROR: {
        "type": "object",
        "description": "Field name (or non_field_errors) -> messages; or a detail message.",
        "additionalProperties": {},
    },
}
_WRITES = {"post", "put", "patch", "delete"}


def _answer(description: str, schema: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _framework_answers(method: str, operation: dict) -> dict[str, dict]:
    answers = {}
    if operation.get("requestBody") or operation.get("parameters"):
        answers["400"] = _answer("Invalid input; nothing was saved.", VALIDATION_ERROR)
    if any(requirement for requirement in operation.get("security", [])):
        answers["401"] = _answer("No valid credentials (a SON token: refused).", ERROR)
        answers["403"] = _answer("Not signed in, or without the permission needed.", ERROR)
    if any(p.get("in") == "path" for p in operation.get("parameters", [])):
        answers["404"] = _answer("No such object, or not yours.", ERROR)
    if operation.get("requestBody"):
        answers["411"] = _answer("A body without a Content-Length.", ERROR)
        answers["413"] = _answer("A body over the size limit; not read.", ERROR)
        answers["415"] = _answer("A body that is not JSON.", ERROR)
    if method in _WRITES:
        answers["429"] = _answer("Too many writes; retry after Retry-After seconds.", ERROR)
    return answers


def add_error_answers(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook (SPECTACULAR_SETTINGS)."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(_SCHEMAS)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for code, answer in _framework_answers(method, operation).items():
                responses.setdefault(code, answer)
    return result
