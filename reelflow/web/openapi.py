"""Make the generated OpenAPI document tell the truth about what every operation can answer.

Litestar documents each handler's success response and a generic 400. The app answers more:
every error is an RFC 9457 problem (`application/problem+json`) from one place
(`reelflow.web.errors`), and which errors an operation can produce follows from its shape —
authentication (401/403), path parameters (404), a body (413/415/422), writes (409), rate
limits (429 with Retry-After) and temporary unavailability (503). `amend_openapi` adds exactly
those, once, to the document the app serves, plus what the decoder enforces on request bodies
(no unknown fields, no NUL characters in text).
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from litestar.openapi.datastructures import ResponseSpec

PROBLEM_JSON = "application/problem+json"
NO_NUL = "^[^\\u0000]*$"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `errors` names the fields or parameters at fault.",
    "required": ["type", "title", "status", "detail", "instance", "request_id"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

DESCRIPTIONS = {
    "400": "Malformed request: not JSON, nested too deep, or a bad query parameter, cursor or limit",
    "401": "Missing, malformed, unknown, revoked or expired bearer token",
    "403": "The caller's role does not allow this, or a signed link is not valid",
    "404": "No such resource in the caller's workspace",
    "405": "Method not allowed",
    "409": "Conflict with the current state, or an Idempotency-Key reused with a different request",
    "413": "Request body larger than the limit",
    "415": "Request body is not JSON",
    "422": "A field's value is not acceptable (the problem names it)",
    "429": "Rate or plan limit reached; retry after `Retry-After` seconds",
    "502": "A platform failed permanently",
    "503": "Temporarily unavailable; retry after `Retry-After` seconds if given",
}

_WRITE_METHODS = {"post", "put", "patch", "delete"}


class ProblemOut(msgspec.Struct):
    """RFC 9457 problem details (the document's `Problem` schema replaces this one)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str


def problems(*codes: int) -> dict[int, ResponseSpec]:
    """`responses=` for a handler whose answers the shape rules below cannot infer (a public
    login's 401, a link's 404): documented as problems."""
    return {
        code: ResponseSpec(data_container=ProblemOut, description=DESCRIPTIONS[str(code)], media_type=PROBLEM_JSON)
        for code in codes
    }


def answers(
    container: Any, described: dict[int, str], *, media_type: str = "application/json"
) -> dict[int, ResponseSpec]:
    """`responses=` for a handler that answers with more than one success status (it returns
    `Response(..., status_code=...)`, which Litestar cannot see): each status, described, with
    the same body type. The decorator's `status_code` stays the main one."""
    return {
        code: ResponseSpec(data_container=container, description=description, media_type=media_type)
        for code, description in described.items()
    }


def download(media_type: str, description: str) -> dict[int, ResponseSpec]:
    """`responses=` for a file download (a CSV export...): 200 with that media type, a string
    body. Pair with the same `media_type=` on the decorator."""
    return {200: ResponseSpec(data_container=str, description=description, media_type=media_type)}


def _is_job_start(operation: dict[str, Any]) -> bool:
    """`web.jobs.start_job` answers 202 with a new run, 200 with the replayed one (a handler
    that returns an untyped `Response` is documented the same way: it may be either)."""
    for code in ("201", "200", "202"):
        content = (operation.get("responses", {}).get(code) or {}).get("content") or {}
        if "application/json" not in content:
            continue
        schema = content["application/json"].get("schema")
        if schema == {} or (schema or {}).get("$ref") == "#/components/schemas/JobOut":
            return True
    return False


def _problem_response(code: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[code],
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if code in ("429", "503"):
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying", "schema": {"type": "integer"}}
        }
    if code == "401":
        response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return response


def _refers_to_ids(schema: Any, components: dict[str, Any], depth: int = 0) -> bool:
    """Whether a request body names other resources by id (a `uuid` property, an array of
    them, or one nested in an object): an id that is not in the caller's workspace is a 404."""
    if not isinstance(schema, dict) or depth > 6:
        return False
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return _refers_to_ids(components.get(ref.rsplit("/", 1)[1]), components, depth + 1)
    if schema.get("format") == "uuid":
        return True
    children: list[Any] = list((schema.get("properties") or {}).values())
    children += [schema.get("items")]
    for key in ("oneOf", "anyOf", "allOf"):
        children += list(schema.get(key) or [])
    return any(_refers_to_ids(child, components, depth + 1) for child in children)


def _walk_schema(schema: Any, components: dict[str, Any], seen: set[str], *, request: bool) -> None:
    """Request schemas: objects refuse unknown properties (the decoder does), strings refuse NUL;
    `oneOf` with an unconstrained member becomes unconstrained (else null matches twice)."""
    if isinstance(schema, list):
        for item in schema:
            _walk_schema(item, components, seen, request=request)
        return
    if not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        key = f"{name}:{request}"
        if key not in seen and name in components:
            seen.add(key)
            _walk_schema(components[name], components, seen, request=request)
        return
    one_of = schema.get("oneOf")
    if isinstance(one_of, list) and any(isinstance(s, dict) and not s for s in one_of):
        del schema["oneOf"]
    if request:
        types = schema.get("type")
        type_list = types if isinstance(types, list) else [types]
        if "object" in type_list and "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        if "string" in type_list and "format" not in schema and "pattern" not in schema and "enum" not in schema:
            schema["pattern"] = NO_NUL
    for key in ("properties",):
        for child in (schema.get(key) or {}).values():
            _walk_schema(child, components, seen, request=request)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            _walk_schema(schema[key], components, seen, request=request)
    for key in ("oneOf", "anyOf", "allOf"):
        if isinstance(schema.get(key), list):
            _walk_schema(schema[key], components, seen, request=request)


def public_operations(app: Any) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every handler that skips bearer authentication
    (`opt={"exclude_from_auth": True}`: health, sign-up, login, signed links, webhooks)."""
    import re

    found: set[tuple[str, str]] = set()
    for route in app.routes:
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            if handler.opt.get("exclude_from_auth"):
                found.update((path, method.lower()) for method in getattr(handler, "http_methods", ()))
    return found


MEDIA_OPT = "openapi_media"


def also_media(status: int, media_type: str, description: str) -> dict[str, Any]:
    """`opt=` for a handler that answers one status in a second media type as well (results
    as JSON, or as a CSV download with `?format=csv`): the document lists both."""
    return {MEDIA_OPT: {str(status): {media_type: description}}}


def extra_media(app: Any) -> dict[tuple[str, str], dict[str, dict[str, str]]]:
    """(OpenAPI path, method) → {status: {media type: description}} from handlers' `opt`."""
    import re

    found: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    for route in app.routes:
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            media = handler.opt.get(MEDIA_OPT)
            if media:
                for method in getattr(handler, "http_methods", ()):
                    found[(path, method.lower())] = media
    return found


# Dependencies through which a handler reaches a platform in the request (app factory).
PLATFORM_DEPENDENCIES = frozenset({"ads_factory", "platforms"})


def platform_operations(app: Any) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every handler that takes a platform adapter: it may answer
    502 when the platform fails for good (`errors.Permanent`, `AuthExpired`)."""
    import re

    found: set[tuple[str, str]] = set()
    for route in app.routes:
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path)
        for handler in getattr(route, "route_handlers", []):
            if PLATFORM_DEPENDENCIES & set(handler.parsed_fn_signature.parameters):
                found.update((path, method.lower()) for method in getattr(handler, "http_methods", ()))
    return found


def amend_openapi(
    document: dict[str, Any],
    public: set[tuple[str, str]] | None = None,
    media: dict[tuple[str, str], dict[str, dict[str, str]]] | None = None,
    platform: set[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    """Amend the served document in place (and return it). Operations in `public` are
    documented without the bearer scheme; `media` adds second media types (`also_media`);
    operations in `platform` reach a platform and may answer 502."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = copy.deepcopy(PROBLEM_SCHEMA)
    default_security = document.get("security")
    request_schemas: set[str] = set()
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete", "head", "options"}:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            if method == "post" and _is_job_start(operation):
                success = responses.pop("201", None) or responses.get("202") or responses.get("200")
                assert success is not None
                responses["202"] = {**success, "description": "A new run was queued"}
                responses["200"] = {**success, "description": "The run this Idempotency-Key already started"}
            if method in _WRITE_METHODS and "200" not in responses:
                # Any write sent with an Idempotency-Key may be a replay: its stored 201/202
                # answer comes back as 200 (`web.middleware.check_idempotency_key`).
                created = responses.get("201") or responses.get("202")
                if created is not None:
                    responses["200"] = {
                        **created,
                        "description": "The answer this Idempotency-Key already got (`Idempotent-Replayed: true`)",
                    }
            for code, types in (media or {}).get((path, method), {}).items():
                response = responses.setdefault(code, {"description": next(iter(types.values()))})
                content = response.setdefault("content", {})
                for media_type in types:
                    content[media_type] = {"schema": {"type": "string"}}
            if public is not None and (path, method) in public:
                operation["security"] = [{}]
            security = operation.get("security", default_security)
            protected = bool(security) and security != [{}]
            params = operation.get("parameters", [])
            has_body = "requestBody" in operation
            codes = {"400", "429", "503"}
            if protected or "/uploads/" in path or "/blobs/" in path:
                codes |= {"401", "403"} if protected else {"403"}
            if "{" in path or any(
                (p.get("schema") or {}).get("format") == "uuid"
                or any((alt or {}).get("format") == "uuid" for alt in (p.get("schema") or {}).get("oneOf", []))
                for p in params
            ):
                codes.add("404")  # a path id, or an id in the query (`rule_id=`), that is not in the workspace
            if any(
                _refers_to_ids(media_type.get("schema"), schemas)
                for media_type in operation.get("requestBody", {}).get("content", {}).values()
            ):
                codes.add("404")  # an id in the body (`clip_id`, `ad_account_id`...) that is not in the workspace
            if method in _WRITE_METHODS:
                codes.add("409")
            if platform is not None and (path, method) in platform:
                codes.add("502")
            if has_body:
                codes |= {"413", "415", "422"}
            if any(p.get("in") in ("query", "path") for p in params):
                codes.add("422")
            if "/projects" in path or "/upload" in path or "/clips" in path:
                codes |= {"413", "415", "422"} if method in ("put", "post") else set()
            for code in sorted(codes | {c for c in responses if c in DESCRIPTIONS}):
                existing = responses.get(code)
                content = (existing or {}).get("content") or {}
                if existing is None or "application/json" in content or PROBLEM_JSON in content:
                    responses[code] = _problem_response(code)
            for parameter in params:
                schema = parameter.get("schema")
                if isinstance(schema, dict):
                    _walk_schema(schema, schemas, set(), request=True)
            body = operation.get("requestBody", {}).get("content", {})
            for body_media in body.values():
                _walk_schema(body_media.get("schema"), schemas, request_schemas, request=True)
            for response in responses.values():
                for response_media in (response.get("content") or {}).values():
                    _walk_schema(response_media.get("schema"), schemas, set(), request=False)
    return document
