#!/usr/bin/env python3
"""Herald's fuzz run: schemathesis against docs/openapi.yaml on a live server, then a check
that what is stored is exactly what was answered 2xx. Started by Tests/fuzz/run.sh, which
installs the dependencies; see Tests/fuzz/README.md.

1. Starts `$HERALD_BIN serve` on a free loopback port with a private PostgreSQL in a new
   temporary folder (no HERALD_* variable of the caller reaches it), and waits for /readyz.
2. Runs schemathesis (settings in schemathesis.toml, hooks in hooks.py) on every operation
   but the endless /v1/sse and /v1/ws, with a bounded number of examples and a hard time
   limit.
3. Reads back every notification: through the API (`GET /v1/poll?topics=T&after=T:0`, for
   every topic any request named and every topic the database knows) and straight from the
   database (psql on the private server's socket), and compares both with the publishes
   answered 200/201, by (topic, seq, id), event, data and created_at.
4. Sends HEAD to every path whose 405 answers name it in `Allow` (schemathesis does not).
5. Stops the server with SIGTERM (it must exit 0) and removes the folder.

Exits 0 when everything held, 1 otherwise, printing what failed.

Environment: HERALD_BIN (default .build/debug/herald, relative to the repository),
HERALD_FUZZ_EXAMPLES (examples per operation and phase, default 40), HERALD_FUZZ_SEED (default:
a new one each run, printed), HERALD_FUZZ_WORKERS (default 1: with two, CPython 3.11's
ast.parse, which hypothesis calls, failed once with "AST constructor recursion depth mismatch"),
HERALD_FUZZ_TIMEOUT (seconds for schemathesis, default 240), HERALD_FUZZ_WAIT_CAP (seconds,
default 1), HERALD_FUZZ_KEEP=1 (keep the temporary folder).
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from herald_server import Server, free_port

FUZZ_DIR = Path(__file__).resolve().parent
REPO = FUZZ_DIR.parent.parent
TOPIC = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SINGLE_PUBLISH = "/v1/topics/{topic}/notifications"
BATCH_PUBLISH = "/v1/notifications"


def log(message: str = "") -> None:
    print(f"fuzz: {message}" if message else "", flush=True)


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        sys.exit(f"fuzz: {name} must be a whole number, got {value!r}")


def as_json(text: str | bytes):
    """Parses JSON with exact numbers, so `1.0`, `1` and `1e0` compare equal as they do in jsonb."""
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


# MARK: - The server


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# MARK: - Schemathesis


def run_schemathesis(server: Server, work: Path, calls_log: Path, seed: int, examples: int, workers: int, timeout: int) -> int | None:
    """The exit status of schemathesis, or None when it ran out of time (and was killed)."""
    command = [
        sys.executable, "-m", "schemathesis.cli",
        "--config-file", str(FUZZ_DIR / "schemathesis.toml"),
        "run", str(REPO / "docs" / "openapi.yaml"),
        "--url", server.base_url,
        "--exclude-path", "/v1/sse",
        "--exclude-path", "/v1/ws",
        "--max-examples", str(examples),
        "--seed", str(seed),
        "--workers", str(workers),
        "--request-timeout", "15",
        "--continue-on-failure",
        "--no-color",
    ]  # fmt: skip
    env = dict(os.environ, SCHEMATHESIS_HOOKS=str(FUZZ_DIR / "hooks.py"), HERALD_FUZZ_LOG=str(calls_log), NO_COLOR="1")
    env.setdefault("HERALD_FUZZ_WAIT_CAP", "1")
    log(f"schemathesis: {examples} examples per operation and phase, seed {seed}, workers {workers}, at most {timeout} s")
    process = subprocess.Popen(command, cwd=work, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None


# MARK: - What was answered


@dataclass
class Answered:
    """A notification some publish was answered 2xx with."""

    topic: str
    seq: int
    id: str
    event: str
    data: object
    created_at: str
    where: str  # the request, for messages
    ttl: int | None = None  # as requested, when the answer is known to be a new notification
    ttl_known: bool = False


@dataclass
class Calls:
    requests: int = 0
    statuses: dict[str, dict[int | None, int]] = field(default_factory=dict)
    attempted_topics: set[str] = field(default_factory=set)
    answered: list[Answered] = field(default_factory=list)
    publishes_2xx: int = 0
    no_answer: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def operation_of(method: str, path: str) -> tuple[str, str | None]:
    """The documented operation of a request, and for a single publish its raw topic segment."""
    segments = path.split("/")
    if len(segments) == 5 and segments[:3] == ["", "v1", "topics"] and segments[4] == "notifications":
        return f"{method} {SINGLE_PUBLISH}", segments[3] if method == "POST" else None
    if len(segments) == 6 and segments[:3] == ["", "v1", "topics"] and segments[4] == "notifications":
        return f"{method} /v1/topics/{{topic}}/notifications/{{seq}}", None
    if len(segments) == 5 and segments[:3] == ["", "v1", "clients"] and segments[4] == "cursors":
        return f"{method} /v1/clients/{{client}}/cursors", None
    if len(segments) == 6 and segments[:3] == ["", "v1", "clients"] and segments[4] == "cursors":
        return f"{method} /v1/clients/{{client}}/cursors/{{topic}}", None
    if len(segments) == 4 and segments[:3] == ["", "v1", "topics"]:
        return f"{method} /v1/topics/{{topic}}", None
    return f"{method} {path}", None


def decoded_topic(raw: str) -> str:
    """The topic the server reads from a path segment: percent-decoded when that is valid UTF-8."""
    if "%" not in raw:
        return raw
    try:
        return urllib.parse.unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return raw


def notification_fields(value) -> tuple[str, int, str, str, object, str]:
    return value["topic"], int(value["seq"]), value["id"], value["event"], value["data"], value["created_at"]


def request_items(body: bytes, content_type: str | None, batch: bool) -> list[dict] | None:
    """The notifications a publish request asked for, as far as they can be read: a list of
    {topic?, event, data, ttl, key} (data missing when it cannot be known)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if batch:
        try:
            value = as_json(body)
        except ValueError:
            return None
        items = value.get("notifications") if isinstance(value, dict) else None
        if not isinstance(items, list):
            return None
        return [item if isinstance(item, dict) else {} for item in items]
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        try:
            value = as_json(body)
        except ValueError:
            return None
        return [value] if isinstance(value, dict) else None
    try:
        return [{"data": body.decode("utf-8"), "event": None}]
    except UnicodeDecodeError:
        return None


def read_calls(path: Path) -> Calls:
    calls = Calls()
    if not path.exists():
        return calls
    for line in path.read_text(encoding="ascii").splitlines():
        record = json.loads(line)
        if "dropped" in record:
            calls.dropped[record["dropped"]] = calls.dropped.get(record["dropped"], 0) + 1
            continue
        calls.requests += 1
        url = urllib.parse.urlsplit(record["url"])
        operation, raw_topic = operation_of(record["method"], url.path)
        by_status = calls.statuses.setdefault(operation, {})
        by_status[record["status"]] = by_status.get(record["status"], 0) + 1
        batch = record["method"] == "POST" and url.path == BATCH_PUBLISH
        if not batch and raw_topic is None:
            continue
        body = base64.b64decode(record["body_b64"]) if record.get("body_b64") else b""
        items = request_items(body, record.get("content_type"), batch)
        where = f"{record['method']} {record['url']}"
        if raw_topic is not None:
            calls.attempted_topics.update({raw_topic, decoded_topic(raw_topic)})
        for item in items or []:
            if isinstance(item.get("topic"), str):
                calls.attempted_topics.add(item["topic"])
        status = record["status"]
        if status is None:
            calls.no_answer.append(where)
            continue
        if status not in (200, 201):
            continue
        calls.publishes_2xx += 1
        check_answer(calls, record, where, raw_topic, items, batch)
    return calls


def check_answer(calls: Calls, record: dict, where: str, raw_topic: str | None, items: list[dict] | None, batch: bool) -> None:
    """Collects the notifications of a 2xx publish answer and checks it against its request."""
    problems = calls.problems
    try:
        answer = as_json(base64.b64decode(record["response_b64"]))
        notifications = answer["notifications"] if batch else [answer]
        parsed = [notification_fields(value) for value in notifications]
    except (ValueError, KeyError, TypeError) as error:
        problems.append(f"{where}: answered {record['status']} with a body that is not the document's ({error})")
        return
    if batch and record["status"] != 201:
        problems.append(f"{where}: a batch answered {record['status']}, not 201")
    if not batch:
        topic, seq = parsed[0][0], parsed[0][1]
        if topic != decoded_topic(raw_topic):
            problems.append(f"{where}: published to {decoded_topic(raw_topic)!r}, answered with topic {topic!r}")
        location = f"/v1/topics/{topic}/notifications/{seq}"
        if record.get("response_location") != location:
            problems.append(f"{where}: Location {record.get('response_location')!r}, expected {location!r}")
        if record["status"] == 200 and not record.get("idempotency_key"):
            problems.append(f"{where}: answered 200 (a repeat) to a publish without Idempotency-Key")
    if items is not None and len(items) != len(parsed):
        problems.append(f"{where}: {len(items)} notifications sent, {len(parsed)} answered")
        items = None
    for index, (topic, seq, id_, event, data, created_at) in enumerate(parsed):
        answered = Answered(topic, seq, id_, event, data, created_at, where)
        item = items[index] if items is not None else None
        if batch and item is not None and item.get("topic") != topic:
            problems.append(f"{where}: item {index} names topic {item.get('topic')!r}, answered with {topic!r}")
        # A new notification (not a repeat of an idempotency key) must echo what was sent.
        key = record.get("idempotency_key") if not batch else (item or {}).get("idempotency_key")
        is_new = item is not None and (record["status"] == 201 if not batch else key is None)
        if is_new:
            sent_event = item.get("event") or "message"
            if event != sent_event:
                problems.append(f"{where}: item {index} sent event {sent_event!r}, answered {event!r}")
            if "data" in item and data != item["data"]:
                problems.append(f"{where}: item {index} sent data {item['data']!r}, answered {data!r}")
            ttl = item.get("ttl")
            answered.ttl = int(ttl) if isinstance(ttl, Decimal) else None
            answered.ttl_known = True
        calls.answered.append(answered)


# MARK: - What is stored


@dataclass
class Stored:
    topic: str
    seq: int
    id: str
    event: str
    data: object
    created_at: str
    ttl: Decimal | None
    expires_epoch: Decimal | None


def read_database(server: Server) -> tuple[dict[tuple[str, int], Stored], dict[str, int], Decimal]:
    """Every notification row (expired ones too), every topic's last_seq, and the database's now."""
    rows = as_json(
        server.psql(
            """SELECT json_build_object(
                 'now', extract(epoch FROM clock_timestamp()),
                 'topics', (SELECT coalesce(json_object_agg(name, last_seq), '{}') FROM herald.topics),
                 'rows', (SELECT coalesce(json_agg(json_build_object(
                     'topic', topic, 'seq', seq, 'id', id::text, 'event', event, 'data', data,
                     'created_at', to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                     'ttl', extract(epoch FROM expires_at - created_at),
                     'expires', extract(epoch FROM expires_at)) ORDER BY topic, seq), '[]')
                   FROM herald.notifications))"""
        )
    )
    stored = {}
    for row in rows["rows"]:
        item = Stored(row["topic"], int(row["seq"]), row["id"], row["event"], row["data"], row["created_at"], row["ttl"], row["expires"])
        stored[(item.topic, item.seq)] = item
    return stored, {name: int(seq) for name, seq in rows["topics"].items()}, rows["now"]


def read_purges(server: Server) -> dict[str, int]:
    """Per topic, the seq through which an admin purge (DELETE .../notifications) removed it."""
    return {
        topic: int(seq)
        for topic, seq in as_json(server.psql("SELECT coalesce(json_object_agg(topic, through_seq), '{}') FROM herald.purges")).items()
    }


def read_through_api(server: Server, topics: list[str], problems: list[str]) -> tuple[dict[tuple[str, int], dict], list[dict]]:
    """Every notification the API delivers from `topic:0`, for each of `topics`, and the resets
    it sends on the way (over seqs that expired between retained ones)."""
    delivered: dict[tuple[str, int], dict] = {}
    resets: list[dict] = []
    for topic in topics:
        position = 0
        for _ in range(100_000):
            query = urllib.parse.urlencode({"topics": topic, "after": f"{topic}:{position}", "limit": 1000})
            status, body = http_get(f"{server.base_url}/v1/poll?{query}")
            if status != 200:
                problems.append(f"GET /v1/poll?{query}: {status} {body[:200]!r}")
                break
            answer = as_json(body)
            start, previous = position, position
            for value in answer["notifications"]:
                if value["topic"] != topic or int(value["seq"]) <= previous:
                    problems.append(f"GET /v1/poll?{query}: {value['topic']}:{value['seq']} after {topic}:{previous}")
                previous = max(previous, int(value["seq"]))
                delivered[(value["topic"], int(value["seq"]))] = value
            for reset in answer["resets"]:
                resets.append(dict(reset, query=query))
                if reset["topic"] == topic:
                    previous = max(previous, int(reset["resumed_after"]))
            position = previous
            if answer["cursor"] != f"{topic}:{position}":
                problems.append(f"GET /v1/poll?{query}: cursor {answer['cursor']!r}, expected {topic}:{position}")
            if position == start:
                break
    return delivered, resets


def compare(calls: Calls, server: Server) -> tuple[list[str], dict[str, int]]:
    """What was answered 2xx against the database and against what the API delivers."""
    problems = list(calls.problems)
    answered: dict[tuple[str, int], Answered] = {}
    by_id: dict[str, tuple[str, int]] = {}
    for item in calls.answered:
        key = (item.topic, item.seq)
        earlier = answered.get(key)
        if earlier is not None and earlier.id != item.id:
            problems.append(f"{item.topic}:{item.seq} answered with two ids: {earlier.id} ({earlier.where}) and {item.id} ({item.where})")
            continue
        if by_id.get(item.id, key) != key:
            problems.append(f"id {item.id} answered as {by_id[item.id]} and as {key}")
        by_id[item.id] = key
        if earlier is None or (item.ttl_known and not earlier.ttl_known):
            if earlier is not None:
                check_same_content(earlier, item.event, item.data, item.created_at, item.where, problems)
            answered[key] = item
        else:
            check_same_content(earlier, item.event, item.data, item.created_at, item.where, problems)

    stored, last_seqs, _ = read_database(server)
    # A purge (the fuzzer may hit DELETE .../notifications?through_seq=N) removes a topic's
    # notifications up to its mark: those are gone, answered or not.
    purges = read_purges(server)
    # The database holds exactly the answered notifications, expired ones included.
    for key in sorted(answered.keys() - stored.keys()):
        if key[1] <= purges.get(key[0], 0):
            continue
        problems.append(f"{key[0]}:{key[1]} (id {answered[key].id}) was answered 2xx but is not stored ({answered[key].where})")
    for key in sorted(stored.keys() - answered.keys()):
        problems.append(f"{key[0]}:{key[1]} (id {stored[key].id}) is stored but no publish was answered 2xx with it")
    for key in sorted(stored.keys() & answered.keys()):
        mine, row = answered[key], stored[key]
        if row.id != mine.id:
            problems.append(f"{key[0]}:{key[1]}: stored id {row.id}, answered {mine.id}")
        check_same_content(mine, row.event, row.data, row.created_at, "the database row", problems)
        if mine.ttl_known and (row.ttl is None) != (mine.ttl is None):
            problems.append(f"{key[0]}:{key[1]}: ttl {mine.ttl} sent, stored expiry {row.ttl}")
        elif mine.ttl_known and mine.ttl is not None and abs(row.ttl - mine.ttl) > Decimal("0.001"):
            problems.append(f"{key[0]}:{key[1]}: ttl {mine.ttl} sent, stored {row.ttl} s after created_at")
    # Seqs are gap-free: a topic's rows are 1..last_seq.
    by_topic: dict[str, list[int]] = {}
    for topic, seq in stored:
        by_topic.setdefault(topic, []).append(seq)
    for topic in sorted(set(by_topic) | set(last_seqs)):
        seqs = sorted(by_topic.get(topic, []))
        if seqs != list(range(purges.get(topic, 0) + 1, last_seqs.get(topic, 0) + 1)):
            problems.append(f"topic {topic!r}: seqs {seqs[:10]}{'...' if len(seqs) > 10 else ''}, last_seq {last_seqs.get(topic)}")

    # The API delivers exactly the stored notifications that have not expired.
    topics = sorted(t for t in calls.attempted_topics | set(last_seqs) | {t for t, _ in stored} if TOPIC.fullmatch(t))
    started = time.time()
    _, _, db_started = read_database(server)
    delivered, resets = read_through_api(server, topics, problems)
    _, _, db_ended = read_database(server)
    # A reset is sent only over seqs that expired after a retained one (`topic:0` itself never
    # gets one), and skips exactly those.
    for reset in resets:
        topic, after, resumed = reset["topic"], int(reset["requested_after"]), int(reset["resumed_after"])
        skipped = [(topic, seq) for seq in range(after + 1, resumed + 1)]
        wrong = [
            f"{seq}" for key in skipped for seq in [key[1]]
            if key not in stored or stored[key].expires_epoch is None or stored[key].expires_epoch > db_ended or key in delivered
        ]
        if reset["reason"] == "purged" and 1 <= after < resumed == purges.get(topic):
            continue
        if reset["reason"] != "expired" or after < 1 or resumed <= after or wrong:
            problems.append(f"GET /v1/poll?{reset['query']}: reset {reset} (seqs not expired or delivered: {wrong[:10]})")
    expired_missing = 0
    for key in sorted(stored.keys() - delivered.keys()):
        row = stored[key]
        if key[1] <= purges.get(key[0], 0):
            continue  # purged, its row not deleted yet (the purge's DELETE failed): never delivered
        if row.expires_epoch is not None and row.expires_epoch <= db_ended:
            expired_missing += 1
        else:
            problems.append(f"{key[0]}:{key[1]} (id {row.id}) is stored and not expired but GET /v1/poll does not deliver it")
    for key in sorted(delivered.keys() - stored.keys()):
        problems.append(f"GET /v1/poll delivers {key[0]}:{key[1]} (id {delivered[key]['id']}), which is not stored")
    for key in sorted(delivered.keys() & stored.keys()):
        value, row = delivered[key], stored[key]
        if value["id"] != row.id:
            problems.append(f"{key[0]}:{key[1]}: delivered id {value['id']}, stored {row.id}")
        if key in answered:
            check_same_content(answered[key], value["event"], value["data"], value["created_at"], "GET /v1/poll", problems)
        if row.expires_epoch is not None and row.expires_epoch < db_started - 1:
            problems.append(f"{key[0]}:{key[1]} delivered by GET /v1/poll {db_started - row.expires_epoch:.1f} s after its ttl ran out")
    counts = {
        "topics": len(topics),
        "answered": len(answered),
        "stored": len(stored),
        "delivered": len(delivered),
        "expired": expired_missing,
        "read_seconds": round(time.time() - started, 1),
    }
    return problems, counts


def check_allowed_methods(server: Server) -> list[str]:
    """What schemathesis's unsupported_method check does not try: every method a 405's `Allow`
    names is served. Only HEAD is sent (it stores nothing): it must answer as GET does (a
    resource that does not exist is 404 either way), never 405."""
    problems = []
    paths = ["/v1/notifications", "/v1/topics/fuzz/notifications", "/v1/topics/fuzz/notifications/1", "/v1/poll?topics=fuzz",
             "/v1/clients/fuzz/cursors", "/v1/clients/fuzz/cursors/fuzz", "/v1/topics", "/v1/topics/fuzz",
             "/healthz", "/readyz", "/metrics"]  # fmt: skip
    for path in paths:
        # PATCH: no path serves it, so every one answers 405 and names what it serves.
        status, allow = http_status("PATCH", server.base_url + path)
        if status != 405 or not allow:
            problems.append(f"PATCH {path}: {status} with Allow {allow!r}, expected 405 with Allow")
            continue
        if "HEAD" in [method.strip() for method in allow.split(",")]:
            status, _ = http_status("HEAD", server.base_url + path)
            expected, _ = http_status("GET", server.base_url + path)
            if status == 405 or status != expected:
                problems.append(f"HEAD {path}: {status} where GET is {expected}, though its 405 answers say Allow: {allow} (curl -I {server.base_url}{path})")
    return problems


def http_status(method: str, url: str) -> tuple[int, str | None]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.headers.get("Allow")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Allow")


def check_same_content(mine: Answered, event: str, data: object, created_at: str, source: str, problems: list[str]) -> None:
    if event != mine.event or data != mine.data or created_at != mine.created_at:
        problems.append(
            f"{mine.topic}:{mine.seq}: answered event {mine.event!r}, data {mine.data!r}, created_at {mine.created_at} "
            f"({mine.where}); {source} has {event!r}, {data!r}, {created_at}"
        )


# MARK: - Main


def main() -> int:
    binary = os.environ.get("HERALD_BIN") or ".build/debug/herald"
    binary = str((REPO / binary) if not os.path.isabs(binary) else Path(binary))
    if not os.access(binary, os.X_OK):
        log(f"{binary} is not an executable (build it, or set HERALD_BIN)")
        return 1
    examples = env_int("HERALD_FUZZ_EXAMPLES", 40)
    workers = env_int("HERALD_FUZZ_WORKERS", 1)
    timeout = env_int("HERALD_FUZZ_TIMEOUT", 240)
    seed = env_int("HERALD_FUZZ_SEED", random.SystemRandom().randrange(2**64))

    began = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="herald-fuzz-"))
    (folder / "work").mkdir()
    server = Server("fuzz", binary, folder)
    failures: list[str] = []
    counts: dict[str, int] = {}
    calls = Calls()
    try:
        server.start()
        log(f"server ready at {server.base_url} after {time.monotonic() - began:.1f} s")
        calls_log = folder / "calls.jsonl"
        status = run_schemathesis(server, folder / "work", calls_log, seed, examples, workers, timeout)
        if status is None:
            failures.append(f"schemathesis did not finish within {timeout} s (HERALD_FUZZ_TIMEOUT)")
        elif status != 0:
            failures.append(f"schemathesis found failures (exit status {status}; its report is above)")
        if server.process.poll() is not None:
            failures.append(f"the server exited during the run with status {server.process.returncode}")
        elif status is None:
            calls = read_calls(calls_log)
            log("schemathesis was killed, perhaps mid-request: what is stored is not compared")
        else:
            calls = read_calls(calls_log)
            for where in calls.no_answer:
                failures.append(f"{where}: no answer (a network error), so what it stored cannot be known")
            problems, counts = compare(calls, server)
            failures.extend(problems)
            failures.extend(check_allowed_methods(server))
    except Exception as error:  # the run itself broke: say so, with the server's log
        failures.append(f"{type(error).__name__}: {error}")
    finally:
        exit_status = server.stop()
        if server.process is not None and exit_status != 0:
            failures.append(f"herald serve exited with status {exit_status} on SIGTERM (expected 0)" if exit_status is not None else "herald serve did not exit within 30 s of SIGTERM and was killed")

    log()
    log(f"{calls.requests} requests; by operation and status:")
    for operation in sorted(calls.statuses):
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(calls.statuses[operation].items(), key=lambda kv: str(kv[0])))
        log(f"  {operation}  {statuses}")
    if counts:
        log(
            f"{calls.publishes_2xx} publishes answered 2xx with {counts['answered']} notifications; {counts['stored']} stored "
            f"on {counts['topics']} topics read back; {counts['delivered']} delivered by GET /v1/poll, {counts['expired']} not "
            f"because their ttl ran out ({counts['read_seconds']} s)"
        )
    for reason, count in sorted(calls.dropped.items()):
        log(f"dropped {count} × {reason}")
    log(f"took {time.monotonic() - began:.0f} s; seed {seed} (HERALD_FUZZ_SEED={seed} repeats this run's cases)")
    if failures:
        log()
        log(f"FAILED: {len(failures)} problem(s)")
        for failure in failures[:50]:
            log(f"  - {failure}")
        if len(failures) > 50:
            log(f"  ... and {len(failures) - 50} more")
        tail = server.log_tail()
        if tail:
            log("the server's log (warnings and errors, then its last lines):")
            print(tail, flush=True)
    if os.environ.get("HERALD_FUZZ_KEEP") == "1":
        log(f"kept {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    if failures:
        return 1
    log("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
