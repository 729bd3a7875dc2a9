"""Schemathesis hooks for Herald's fuzz run (loaded through SCHEMATHESIS_HOOKS by fuzz.py).

- `before_call` caps the poll's `wait` at WAIT_CAP seconds, for every case of every phase:
  a valid wait (0..60 s) holds the request that long when nothing comes, and the run must
  stay short. Invalid values (negative, over 60, not a number) are sent as generated: the
  server must refuse them at once.
- `after_call` appends one JSON line per request to the file named by HERALD_FUZZ_LOG: the
  method, URL and status, and for a POST the bytes sent and the answer. fuzz.py reads it
  afterwards to count the requests and to compare what is stored with what was answered 2xx.
- `after_network_error` records publishes that got no answer (a time-out, a reset): their
  outcome is unknown, and fuzz.py reports them.
- `filter_failure` drops the "schema-valid request rejected" failures (positive_data_acceptance)
  that are right by docs/api.md but that no schema can express, each for a stated reason; it
  keeps every other failure. It also drops a "schema-violating request accepted" failure
  (negative_data_rejection) whose request, as sent, is valid: a negative case's boolean
  `false` for `topics` goes out as `topics=false`, a valid topic name, and an empty object
  for `limit` as nothing, so the server rightly accepts it. Each dropped one is logged too,
  and fuzz.py counts them.
"""

from __future__ import annotations

import base64
import json
import math
import os
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema
import schemathesis
import yaml

WAIT_CAP = float(os.environ.get("HERALD_FUZZ_WAIT_CAP", "1"))
LOG_PATH = os.environ.get("HERALD_FUZZ_LOG")
_lock = threading.Lock()


def _capped_wait(value):
    """`value` (a generated `wait`) capped at WAIT_CAP when the server would hold a request longer."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return value
    try:
        seconds = float(value)
    except ValueError:
        return value
    if math.isfinite(seconds) and WAIT_CAP < seconds <= 60:
        return WAIT_CAP
    return value


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path == "/v1/poll" and isinstance(case.query, dict) and "wait" in case.query:
        value = case.query["wait"]
        if isinstance(value, list):
            case.query["wait"] = [_capped_wait(item) for item in value]
        else:
            case.query["wait"] = _capped_wait(value)


def _body_bytes(request) -> bytes | None:
    body = request.body
    if body is None:
        return None
    if isinstance(body, str):
        return body.encode("utf-8", "surrogatepass")
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    return None  # a stream: not recorded


def _write(record: dict) -> None:
    if not LOG_PATH:
        return
    line = json.dumps(record, ensure_ascii=True)
    with _lock, open(LOG_PATH, "a", encoding="ascii") as log:
        log.write(line + "\n")


def _request_record(request) -> dict:
    body = _body_bytes(request)
    return {
        "method": request.method,
        "url": request.url,
        "content_type": request.headers.get("Content-Type"),
        "idempotency_key": request.headers.get("Idempotency-Key"),
        "body_b64": None if body is None else base64.b64encode(body).decode("ascii"),
    }


@schemathesis.hook
def after_call(context, case, response):
    request = response.request
    if request is None:
        return
    if request.method != "POST":
        _write({"method": request.method, "url": request.url, "status": response.status_code})
        return
    record = _request_record(request)
    record["status"] = response.status_code
    record["response_location"] = response.headers.get("location", [None])[0]
    record["response_b64"] = base64.b64encode(response.content or b"").decode("ascii")
    _write(record)


@schemathesis.hook
def after_network_error(context, case, request):
    if request is None or request.method != "POST":
        return
    record = _request_record(request)
    record["status"] = None
    _write(record)


def _error_code(response) -> str | None:
    try:
        return json.loads(response.content)["error"]["code"]
    except Exception:
        return None


def _holds_nul(body: bytes) -> bool:
    """Whether a publish body, JSON or text, carries a NUL character."""
    if b"\x00" in body:
        return True
    try:
        value = json.loads(body)
    except ValueError:
        return False
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
    return False


def _excused_rejection(case, response) -> str | None:
    """Why refusing this schema-valid request is right, or None when it is not."""
    if response.status_code != 400:
        return None
    code = _error_code(response)
    path = case.operation.path
    if path == "/v1/poll" and code == "invalid_cursor":
        # `after` must name only requested topics, a bare integer only with one topic, and no
        # position past a topic's last seq: relations and stored state, not a string pattern.
        return "poll: invalid_cursor (after vs topics and the stored seqs)"
    if path == "/v1/clients/{client}/cursors/{topic}" and code == "invalid_cursor":
        # A cursor set past the topic's last seq: stored state, not a schema.
        return "setCursor: invalid_cursor (past the topic's last seq)"
    if path == "/v1/topics/{topic}/notifications" and case.method.upper() == "DELETE" and code == "invalid_parameter":
        # A purge through a seq past the topic's last seq: stored state, not a schema.
        return "purgeTopic: invalid_parameter (through_seq past the topic's last seq)"
    if path in ("/v1/topics/{topic}/notifications", "/v1/notifications") and code == "invalid_body":
        if _holds_nul(_body_bytes(response.request) or b""):
            # docs/api.md: text PostgreSQL cannot store (NUL) is invalid_body.
            return "publish: invalid_body for a NUL character"
    return None


_SPEC_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
_spec_cache: dict = {}


def _spec() -> dict:
    if not _spec_cache:
        _spec_cache.update(yaml.safe_load(_SPEC_PATH.read_text()))
    return _spec_cache


def _resolved(node: dict) -> dict:
    """`node` with its `$ref` (into this document) followed."""
    while isinstance(node, dict) and "$ref" in node:
        target = _spec()
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _query_value(raw: str, schema: dict):
    """A query parameter's value as its schema reads it (form style, arrays comma-separated)."""
    kind = schema.get("type")
    if kind == "array":
        return raw.split(",")
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        return {"true": True, "false": False}[raw]
    return raw


def _query_valid_as_sent(case, request) -> bool:
    """Whether the request's query, as sent, satisfies the operation's query parameters, for
    an operation whose only inputs are query parameters (nothing else can be the invalid part)."""
    path_item = _spec()["paths"].get(case.operation.path, {})
    operation = path_item.get(case.method.lower(), {})
    parameters = [_resolved(p) for p in path_item.get("parameters", []) + operation.get("parameters", [])]
    if "requestBody" in operation or request.body or any(p.get("in") != "query" for p in parameters):
        return False
    query = {p["name"]: p for p in parameters}
    sent = parse_qs(urlsplit(request.url).query, keep_blank_values=True)
    if any(name not in query or len(values) != 1 for name, values in sent.items()):
        return False
    for name, parameter in query.items():
        if name not in sent:
            if parameter.get("required"):
                return False
            continue
        schema = parameter.get("schema", {})
        try:
            value = _query_value(sent[name][0], _resolved(schema))
            jsonschema.validate(value, {**schema, "components": _spec()["components"]})
        except (ValueError, KeyError, jsonschema.ValidationError):
            return False
    return True


@schemathesis.hook
def filter_failure(context, failure, case, response):
    code = getattr(failure, "code", None)
    if code == "ST201" and response is not None and _query_valid_as_sent(case, response.request):
        reason = "schema-violating case accepted, rightly: valid as sent (query)"
        _write({"dropped": reason, "method": response.request.method, "url": response.request.url})
        return False
    if code != "ST202" or response is None:
        return True
    reason = _excused_rejection(case, response)
    if reason is None:
        return True
    _write({"dropped": f"schema-valid request rejected, rightly: {reason}", "method": response.request.method, "url": response.request.url})
    return False
