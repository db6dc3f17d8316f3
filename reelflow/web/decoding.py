"""Strict request decoding, in one place for every endpoint.

Litestar decodes a JSON body into builtins and then converts it to the handler's type with
`strict=False` (so `"5"` becomes `5`). `StrictRequest.json()` runs first, on the raw bytes:

- a body that is not JSON (`text/plain`, a form) is a 415;
- JSON nested deeper than `MAX_DEPTH` is a 400 before any further work;
- every string (and object key) is checked for NUL characters, which Postgres refuses: 422
  naming the field;
- integers outside the signed 64-bit range and non-finite numbers are a 422 naming the field;
- the body is decoded against the handler's `data` type with msgspec's strict mode, so a wrong
  JSON type is a 422 naming the field, never coerced.

Query parameters, path parameters and headers are strings by nature; `check_query` refuses
NUL characters and absurd lengths there (400 naming the parameter).
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from functools import lru_cache
from typing import Any, get_args
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.types import Empty

from reelflow.errors import BadRequest, InvalidInput, UnsupportedMediaType

MAX_DEPTH = 64
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
MAX_QUERY_VALUE = 4096
_INTEGER = re.compile(r"^\s*[+-]?[0-9]{19,4000}\s*$")  # only long ones can overflow
# RFC 3339 date-time as OpenAPI's `format: date-time` says (the offset's `+` may arrive as a
# space when a client did not percent-encode it); Litestar alone also took bare numbers.
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[ +-]\d{2}:?\d{2})?$")
_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")
_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _path_name(path: str) -> str:
    """msgspec's `$.a.b[0]` → `a.b[0]`."""
    return path[1:] if path.startswith(".") else path


def _max_depth_exceeded(body: bytes, limit: int) -> bool:
    """A cheap bound before decoding: count unclosed brackets outside strings, stopping as
    soon as `limit` is passed (only bodies that open many brackets pay for the scan)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    in_string = False
    escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def check_values(value: Any, root: str = "") -> None:
    """NUL characters, 64-bit integer overflow and non-finite floats anywhere in decoded JSON
    → InvalidInput naming the field (iterative: depth is bounded, but no recursion anyway)."""
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise InvalidInput("text may not contain NUL (\\u0000) characters", field=path or "body")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if item < INT_MIN or item > INT_MAX:
                raise InvalidInput("the number is out of range", field=path or "body")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput("the number is out of range", field=path or "body")
        elif isinstance(item, dict):
            for key, child in item.items():
                name = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    raise InvalidInput("names may not contain NUL (\\u0000) characters", field=path or "body")
                stack.append((name, child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in enumerate(item))


@lru_cache(maxsize=512)
def _decoder(target: Any) -> msgspec.json.Decoder[Any] | None:
    try:
        return msgspec.json.Decoder(target, strict=True)
    except (TypeError, ValueError):  # not a type msgspec knows (an upload, a DTO): Litestar's own path
        return None


def decode_json_body(body: bytes, target: Any) -> Any:
    """Decode `body` (JSON) for a handler whose `data` is `target`; raises problem errors."""
    if _max_depth_exceeded(body, MAX_DEPTH):
        raise BadRequest(f"the JSON body is nested deeper than {MAX_DEPTH} levels", field="body")
    try:
        raw = msgspec.json.decode(body)
    except RecursionError:
        raise BadRequest(f"the JSON body is nested deeper than {MAX_DEPTH} levels", field="body") from None
    except msgspec.ValidationError as exc:  # a number beyond a double's range
        raise InvalidInput(str(exc), field="body") from None
    except msgspec.DecodeError:
        raise BadRequest("the request body is not valid JSON", field="body") from None
    check_values(raw)
    decoder = _decoder(target) if target is not None else None
    if decoder is not None:
        try:
            decoder.decode(body)
        except msgspec.ValidationError as exc:
            message = str(exc)
            match = _MSGSPEC_PATH.search(message)
            field = _path_name(match.group("path")) if match else ""
            text = message[: match.start()] if match else message
            missing = re.search(r"missing required field `([^`]+)`", text)
            if missing:
                field = f"{field}.{missing.group(1)}" if field else missing.group(1)
            elif "unknown field" in text:
                unknown = re.search(r"unknown field `([^`]*)`", text)
                if unknown:
                    field = f"{field}.{unknown.group(1)}" if field else unknown.group(1)
            raise InvalidInput(text, field=field or "body") from None
        except RecursionError:
            raise BadRequest(f"the JSON body is nested deeper than {MAX_DEPTH} levels", field="body") from None
    return raw


def check_query(query_string: bytes) -> None:
    """NUL characters or absurd lengths in query parameters → 400 naming the parameter."""
    if not query_string:
        return
    try:
        text = query_string.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the query string is not valid UTF-8", field="query") from None
    for name, value in parse_qsl(text, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            raise BadRequest("query parameters may not contain NUL characters", field=name.replace("\x00", ""))
        if len(value) > MAX_QUERY_VALUE:
            raise BadRequest(f"longer than {MAX_QUERY_VALUE} characters", field=name)
        if _INTEGER.match(value) and not INT_MIN <= int(value) <= INT_MAX:
            raise BadRequest("the number is out of range", field=name)


def check_query_types(request: Request[Any, Any, Any]) -> None:
    """Query parameters declared as datetimes must be RFC 3339 date-times → else 400 naming
    the parameter (Litestar's own parsing accepted `since=0.5` as a timestamp)."""
    names = _datetime_query_names(request)
    if not names:
        return
    for name in names:
        for value in request.query_params.getall(name, []):
            if not _DATE_TIME.match(value):
                raise BadRequest("must be an RFC 3339 date-time, e.g. 2026-12-03T10:00:00Z", field=name)


def _datetime_query_names(request: Request[Any, Any, Any]) -> tuple[str, ...]:
    handler = request.route_handler
    names: tuple[str, ...] | None = handler.opt.get("_datetime_query")
    if names is None:
        found = []
        for name, field in handler.parsed_fn_signature.parameters.items():
            if datetime not in (field.annotation, *get_args(field.annotation)):
                continue
            alias = getattr(field.kwarg_definition, "query", None)
            found.append(alias or name)
        names = handler.opt["_datetime_query"] = tuple(found)
    return names


class StrictRequest(Request[Any, Any, Any]):
    """The app's request class: JSON bodies decoded strictly (see the module docstring)."""

    async def json(self) -> Any:
        if self._json is Empty:
            state_json = self._connection_state.json
            if state_json is not Empty:
                self._json = state_json
            else:
                body = await self.body()
                if not body:
                    self._json = self._connection_state.json = None
                    return None
                content_type = (self.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
                if content_type and not _JSON_TYPE.match(content_type):
                    raise UnsupportedMediaType(f"send the body as application/json, not {content_type}")
                target = _data_type(self)
                self._json = self._connection_state.json = decode_json_body(body, target)
        return self._json


def _data_type(request: Request[Any, Any, Any]) -> Any:
    try:
        parameter = request.route_handler.parsed_fn_signature.parameters.get("data")
    except AttributeError:
        return None
    return parameter.annotation if parameter is not None else None


__all__ = ["StrictRequest", "check_query", "check_values", "decode_json_body"]
