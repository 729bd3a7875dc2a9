#!/usr/bin/env python3
"""Herald's real-browser tests: headless Chromium (driven by selenium) runs the browser
library (/herald.js, /herald.mjs) and the demo page (/) against live `herald serve`
processes. Started by Tests/browser/run.sh, which installs the dependencies; see
Tests/browser/README.md.

Each test prints its name and PASS or FAIL with the reason; on a failure also the browser's
console and the tail of the logs of the servers it used. Exits 0 when every test passed, 1
otherwise.

Arguments: names of tests to run (default: all; `--list` prints them).

Environment: HERALD_BIN (default .build/debug/herald, relative to the repository),
CHROMIUM (default /usr/bin/chromium), CHROMEDRIVER (default /usr/bin/chromedriver),
HERALD_BROWSER_KEEP=1 (keep the temporary folder: profiles, server data and logs).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from herald_server import Server, ServerError, free_port
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

BROWSER_DIR = Path(__file__).resolve().parent
REPO = BROWSER_DIR.parent.parent
ARTIFACTS = REPO / ".build" / "browser-artifacts"
RUN_ID = uuid.uuid4().hex[:6]  # in every topic name, so a run never meets an earlier one's topics


def log(message: str = "") -> None:
    print(f"browser: {message}" if message else "", flush=True)


class Failure(Exception):
    """What a test found wrong, in words a reader of the run's output can act on."""


def check(condition: object, message: str) -> None:
    if not condition:
        raise Failure(message)


def topic_name(test: str, suffix: str = "") -> str:
    return f"bt-{RUN_ID}-{test}{'-' + suffix if suffix else ''}".replace("_", "-")


# MARK: - Servers


def http(method: str, url: str, body: object = None, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes]:
    """(status, body); raises OSError/URLError when there is no answer at all."""
    data = None
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def publish(server: Server, topic: str, data: object, event: str | None = None, key: str | None = None) -> dict:
    """A REST publish that must be answered 201 (or 200, an idempotent repeat)."""
    body = {"data": data} if event is None else {"event": event, "data": data}
    headers = {"Idempotency-Key": key} if key else None
    status, answer = http("POST", f"{server.base_url}/v1/topics/{urllib.parse.quote(topic)}/notifications", body, headers)
    if status not in (200, 201):
        raise Failure(f"POST /v1/topics/{topic}/notifications was answered {status}: {answer[:300]!r}")
    return json.loads(answer)


def metrics(server: Server) -> dict[str, float]:
    """`/metrics` as {'name{labels}': value}."""
    status, body = http("GET", f"{server.base_url}/metrics")
    if status != 200:
        raise Failure(f"GET /metrics was answered {status}")
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            try:
                values[name] = float(value)
            except ValueError:
                pass
    return values


class Publisher(threading.Thread):
    """Publishes `count` notifications to one topic, one at a time, each with an Idempotency-Key
    of its own, retrying one that was refused or got no answer (a server restarting) after a
    short pause. `answered` holds the seqs answered 201, or 200 for a retry whose first try
    was committed but not answered: each logical publish is counted once, with its seq."""

    def __init__(self, server: Server, topic: str, count: int, event: str = "tick", pause: float = 0.0) -> None:
        super().__init__(daemon=True)
        self.server, self.topic, self.count, self.event, self.pause = server, topic, count, event, pause
        self.answered: list[int] = []
        self.refused = 0  # tries refused or unanswered
        self.repeats = 0  # retries answered 200 (the first try was committed)
        self.repeat_causes: list[str] = []  # what the tries before such a 200 got
        self.problems: list[str] = []
        self.last_answer_at = 0.0
        self.stopping = False

    def run(self) -> None:
        url = f"{self.server.base_url}/v1/topics/{self.topic}/notifications"
        for index in range(self.count):
            key = f"{self.topic}-{index}"
            given_up_at = time.monotonic() + 60
            tries: list[str] = []
            while not self.stopping:
                try:
                    status, body = http("POST", url, {"event": self.event, "data": {"n": index}}, {"Idempotency-Key": key}, timeout=10)
                except (urllib.error.URLError, OSError) as error:
                    status, body = None, str(getattr(error, "reason", error)).encode()
                if status in (200, 201):
                    seq = json.loads(body)["seq"]
                    self.answered.append(seq)
                    if status == 200:
                        self.repeats += 1
                        self.repeat_causes.append(f"seq {seq}, whose first try got {tries[0] if tries else '(nothing)'}")
                    self.last_answer_at = time.monotonic()
                    break
                tries.append(f"{status or 'no answer'} {body[:160].decode(errors='replace')}")
                self.refused += 1
                if time.monotonic() > given_up_at:
                    self.problems.append(f"publish #{index} to {self.topic} was not answered 2xx within 60 s (last: {status} {body[:200]!r})")
                    return
                time.sleep(0.2)
            if self.stopping:
                return
            if self.pause:
                time.sleep(self.pause)


# MARK: - The browser


class Browser:
    """Headless Chromium with a fresh profile, through chromedriver (paths given, never
    downloaded). One per test, so no test sees another's storage, tabs or console."""

    def __init__(self, folder: Path) -> None:
        options = webdriver.ChromeOptions()
        options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        profile = folder / f"profile-{uuid.uuid4().hex[:8]}"
        arguments = [
            "--headless=new",
            "--disable-dev-shm-usage",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            # Background tabs (the two-tab test) must not be throttled to a timer a minute.
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
        ]
        if os.geteuid() == 0:
            arguments.append("--no-sandbox")  # Chromium refuses to run as root with its sandbox
        for argument in arguments:
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"), log_output=str(folder / "chromedriver.log"))
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_script_timeout(20)
        self.driver.set_page_load_timeout(20)
        self.console: list[str] = []

    def collect_console(self) -> None:
        """Moves the current window's console messages into `console` (the log is drained on read)."""
        try:
            for entry in self.driver.get_log("browser"):
                self.console.append(f"{entry.get('level')} {entry.get('message')}")
        except WebDriverException:
            pass

    def quit(self) -> None:
        try:
            self.driver.quit()
        except WebDriverException:
            pass


# What every page gets (again after a reload): window.HT.start(name, options) makes a
# Herald.Subscription whose callbacks record everything, with the time it arrived.
HARNESS = r"""
if (!window.HT) {
  window.HT = {
    subs: {},
    start(name, options, lib) {
      const Lib = lib || window.Herald;
      const rec = { notifications: [], resets: [], statuses: [], errors: [], events: [], sub: null };
      const sub = new Lib.Subscription(options);
      sub.onnotification = (n) => { rec.notifications.push(Object.assign({}, n, { __at: Date.now() })); rec.events.push(`notification ${n.topic}:${n.seq}`); };
      sub.onreset = (r) => { rec.resets.push(Object.assign({}, r)); rec.events.push(`reset ${r.topic} ${r.requested_after}->${r.resumed_after} ${r.reason}`); };
      sub.onstatus = (s) => { rec.statuses.push(Object.assign({}, s, { __at: Date.now() })); };
      sub.onerror = (e) => {
        rec.errors.push({ name: e && e.name, status: e && e.status, code: e && e.code, message: String((e && e.message) || e) });
        rec.events.push(`error ${e && e.code}`);
      };
      rec.sub = sub;
      this.subs[name] = rec;
      sub.start();
      return true;
    },
    state(name, from) {
      const rec = this.subs[name];
      if (!rec) return null;
      const s = rec.sub;
      return JSON.parse(JSON.stringify({
        notifications: rec.notifications.slice(from || 0), count: rec.notifications.length,
        resets: rec.resets, statuses: rec.statuses, errors: rec.errors, events: rec.events.slice(-200),
        cursor: s.cursor, transport: s.transport === undefined ? "(undefined)" : s.transport, status: s.status === undefined ? null : s.status,
      }));
    },
    stop(name) { const rec = this.subs[name]; if (rec) rec.sub.stop(); return true; },
  };
}
"""


class Page:
    """One tab on the demo page of `server`."""

    def __init__(self, browser: Browser, server: Server, handle: str | None = None) -> None:
        self.browser, self.server = browser, server
        self.driver = browser.driver
        self.handle = handle or self.driver.current_window_handle

    def focus(self) -> None:
        if self.driver.current_window_handle != self.handle:
            self.driver.switch_to.window(self.handle)

    def open(self) -> None:
        self.focus()
        self.driver.get(self.server.base_url + "/")
        self.require_library()

    def require_library(self) -> None:
        kind = self.driver.execute_script("return typeof (window.Herald && window.Herald.Subscription)")
        if kind != "function":
            status = "no answer"
            try:
                status = str(http("GET", self.server.base_url + "/herald.js")[0])
            except OSError:
                pass
            raise Failure(f"the demo page at {self.server.base_url}/ has no Herald.Subscription (typeof: {kind}; GET /herald.js: {status})")

    def start(self, name: str, options: dict) -> None:
        self.focus()
        try:
            self.driver.execute_script(HARNESS + "return window.HT.start(arguments[0], arguments[1]);", name, options)
        except WebDriverException as error:
            raise Failure(f"new Herald.Subscription({json.dumps(options)}).start() threw: {error.msg}") from None

    def state(self, name: str, since: int = 0) -> dict:
        self.focus()
        value = self.driver.execute_script("return window.HT ? window.HT.state(arguments[0], arguments[1]) : null;", name, since)
        if value is None:
            raise Failure(f"subscription {name!r} is gone from the page (was the page reloaded?)")
        return value

    def stop(self, name: str) -> None:
        self.focus()
        self.driver.execute_script("return window.HT && window.HT.stop(arguments[0]);", name)


def wait_until(timeout: float, probe: Callable[[], str | None], interval: float = 0.1) -> None:
    """Calls `probe` until it returns None (done); after `timeout` s, fails with its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        missing = probe()
        if missing is None:
            return
        if time.monotonic() > deadline:
            raise Failure(f"after {timeout:g} s: {missing}")
        time.sleep(interval)


def seqs_of(state: dict, topic: str | None = None) -> list[int]:
    return [n["seq"] for n in state["notifications"] if topic is None or n["topic"] == topic]


def describe_seqs(got: list[int], want: list[int]) -> str:
    """What differs between the seqs a page got and those it should have, briefly."""
    dupes = sorted({s for s in got if got.count(s) > 1})
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    out_of_order = next((f"{a} before {b}" for a, b in zip(got, got[1:]) if a >= b), None)
    parts = [f"got {len(got)} notifications, expected {len(want)}"]
    if missing:
        parts.append(f"missing {short(missing)}")
    if dupes:
        parts.append(f"repeated {short(dupes)}")
    if extra:
        parts.append(f"not published {short(extra)}")
    if out_of_order:
        parts.append(f"out of order ({out_of_order})")
    return "; ".join(parts)


def short(values: list, limit: int = 12) -> str:
    return f"{values[:limit]}{f' ... ({len(values)} in all)' if len(values) > limit else ''}"


def last_status(state: dict) -> str:
    s = state.get("status") or {}
    return f"status {s.get('state')!r} on {s.get('transport')!r} as {s.get('role')!r}"


def history(state: dict) -> str:
    seen = []
    for s in state["statuses"]:
        label = f"{s.get('state')}/{s.get('transport')}/{s.get('role')}"
        if not seen or seen[-1] != label:
            seen.append(label)
    errors = "; ".join(f"{e.get('code')} ({e.get('status')}): {e.get('message')}" for e in state["errors"][-3:])
    return f"statuses {' → '.join(seen[-12:]) or '(none)'}{f'; errors: {errors}' if errors else ''}"


def wait_live(page: Page, name: str, timeout: float = 10, transport: str | None = None) -> dict:
    """Waits for the subscription's status to be live (on `transport`, when named)."""
    result = {}

    def probe() -> str | None:
        state = page.state(name)
        result["state"] = state
        s = state.get("status") or {}
        if s.get("state") == "live" and (transport is None or s.get("transport") == transport):
            return None
        if state["errors"] and (state.get("status") or {}).get("state") == "closed":
            return f"the subscription was closed on an error; {history(state)}"
        return f"not live{f' on {transport}' if transport else ''}: {last_status(state)}; {history(state)}"

    wait_until(timeout, probe)
    return result["state"]


def same_notification(got: dict, answered: dict) -> list[str]:
    """The fields (topic, seq, id, event, data, created_at) in which a delivered notification differs from the publish's answer."""
    return [f"{key}: got {got.get(key)!r}, the POST answered {answered.get(key)!r}" for key in ("topic", "seq", "id", "event", "data", "created_at") if got.get(key) != answered.get(key)]


# MARK: - The tests


@dataclass
class Context:
    """What a test uses; what a failure prints."""

    name: str
    folder: Path
    servers: dict[str, Server]
    used: list[Server] = field(default_factory=list)
    browser: Browser | None = None
    notes: list[str] = field(default_factory=list)

    def server(self, name: str) -> Server:
        server = self.servers[name]
        if server not in self.used:
            self.used.append(server)
        if server.process is None or server.process.poll() is not None:
            raise Failure(f"server {name} is not running (exit status {server.process.returncode if server.process else None})")
        return server

    def open_browser(self) -> Browser:
        self.browser = Browser(self.folder)
        return self.browser

    def page(self, server: Server) -> Page:
        browser = self.browser or self.open_browser()
        page = Page(browser, server)
        page.open()
        return page


PAYLOAD = {"order": 17, "items": [{"sku": "A-1", "qty": 2}], "total": 12.5, "note": "élan ✓", "gift": False, "coupon": None}


def test_transports(ctx: Context) -> None:
    """A page receives a REST publish within 2 s on WebSocket, SSE and long-poll (each named
    explicitly), with the event name order.created, equal to what the POST answered."""
    server = ctx.server("shared")
    page = ctx.page(server)
    for transport in ("websocket", "sse", "longpoll"):
        topic = topic_name("transports", transport)
        # `after: topic:0` on a topic nobody published to: the subscription misses nothing,
        # whenever the server registers it. A first notification shows it is established
        # end to end (a long-poll is "connecting" until its first answer); the second one,
        # published once the first arrived, is the one timed.
        page.start(transport, {"topics": [topic], "transport": transport, "shared": False, "after": f"{topic}:0"})
        warm_up = publish(server, topic, {"warm": "up"}, event="order.created")

        def arrived(count: int) -> Callable[[], str | None]:
            def probe() -> str | None:
                got = page.state(transport)
                return None if len(got["notifications"]) >= count else f"{transport}: {describe_seqs(seqs_of(got), list(range(1, count + 1)))}; {last_status(got)}; {history(got)}"

            return probe

        wait_until(10, arrived(1), interval=0.05)
        check(page.state(transport)["notifications"][0]["id"] == warm_up["id"], f"{transport}: the first notification delivered is not the one published first")
        answered = publish(server, topic, PAYLOAD, event="order.created")
        answered_at = time.time() * 1000
        wait_until(3, arrived(2), interval=0.05)
        state = page.state(transport)
        got = state["notifications"]
        check(seqs_of(state) == [1, 2], f"{transport}: {describe_seqs(seqs_of(state), [1, 2])}")
        latency = got[1]["__at"] - answered_at
        differences = same_notification(got[1], answered)
        check(not differences, f"{transport}: the delivered notification differs from the POST's answer: {'; '.join(differences)}")
        check(latency <= 2000, f"{transport}: delivered {latency:.0f} ms after the POST was answered (limit 2000 ms)")
        check(state["transport"] == transport, f"{transport}: sub.transport is {state['transport']!r} after delivery")
        # Having delivered, the subscription says so: live on that transport (after the
        # library's 250 ms of quiet that ends catching up).
        wait_live(page, transport, timeout=2, transport=transport)
        ctx.notes.append(f"{transport} {max(latency, 0):.0f} ms")
        page.stop(transport)


def fallback_case(ctx: Context, server_name: str, expected: str, refused: list[str]) -> None:
    server = ctx.server(server_name)
    # The server's side of it: what --transports turned off answers 404.
    for path, headers in (("/v1/ws", {}), ("/v1/sse", {"Accept": "text/event-stream"})):
        transport = "websocket" if path == "/v1/ws" else "sse"
        if transport in refused:
            status, _ = http("GET", f"{server.base_url}{path}?topics=x", headers=headers)
            check(status == 404, f"server {server_name}: GET {path} answered {status}, expected 404 (turned off with {' '.join(server.flags)})")
    page = ctx.page(server)
    topic = topic_name("fallback", expected)
    page.start("auto", {"topics": [topic], "transport": "auto", "shared": False, "after": f"{topic}:0"})

    def settled() -> str | None:
        got = page.state("auto")
        if got["transport"] == expected:
            return None
        return f"with {' '.join(server.flags)}, transport auto is on {got['transport']!r}, expected {expected}; {history(got)}"

    wait_until(15, settled)
    time.sleep(0.5)  # long enough to see it move on, should it
    answered = publish(server, topic, {"after": "fallback"}, event="order.created")

    def probe() -> str | None:
        got = page.state("auto")
        return None if got["notifications"] else f"auto on {expected}: the notification published after is not delivered; {last_status(got)}; {history(got)}"

    wait_until(5, probe, interval=0.05)
    state = page.state("auto")
    differences = same_notification(state["notifications"][0], answered)
    check(not differences, f"auto on {expected}: the delivered notification differs from the POST's answer: {'; '.join(differences)}")
    check(len(state["notifications"]) == 1, f"auto on {expected}: {describe_seqs(seqs_of(state), [answered['seq']])}")
    check(state["transport"] == expected, f"auto: sub.transport went from {expected} to {state['transport']!r}; {history(state)}")
    state = wait_live(page, "auto", timeout=2, transport=expected)
    used = sorted({s.get("transport") for s in state["statuses"] if s.get("state") == "live"} - {None})
    check(used == [expected], f"auto: was live on {used}, expected only {expected}; {history(state)}")


def test_fallback_sse(ctx: Context) -> None:
    """With WebSocket off (--transports sse,longpoll,poll), `auto` ends up on SSE and receives what is published after."""
    fallback_case(ctx, "no-websocket", "sse", ["websocket"])


def test_fallback_longpoll(ctx: Context) -> None:
    """With WebSocket and SSE off (--transports longpoll,poll), `auto` ends up on long-poll and receives what is published after."""
    fallback_case(ctx, "longpoll-only", "longpoll", ["websocket", "sse"])


def test_fallback_poll(ctx: Context) -> None:
    """With only plain polling on (--transports poll: a long-poll is refused 400), `auto` ends up on poll and receives what is published after."""
    fallback_case(ctx, "poll-only", "poll", ["websocket", "sse"])


def test_gap(ctx: Context) -> None:
    """A gap in the middle of what a page reads (seqs 3 and 4 expired between 2 and 5): on every
    transport the callbacks come in the log's order, notification 2, then the reset 2 -> 4
    (expired), then 5; nothing before the gap is lost (a poll's page holds both sides)."""
    server = ctx.server("shared")
    page = ctx.page(server)
    topics = {t: topic_name("gap", t) for t in ("websocket", "sse", "longpoll", "poll")}
    for topic in topics.values():
        for n in range(1, 6):
            body = {"data": {"n": n}}
            if n in (3, 4):
                body["ttl"] = 1
            status, answer = http("POST", f"{server.base_url}/v1/topics/{topic}/notifications", body)
            check(status == 201, f"publish answered {status}: {answer[:200]!r}")
    time.sleep(2.2)  # 3 and 4 expire
    for transport, topic in topics.items():
        page.start(transport, {"topics": [topic], "transport": transport, "shared": False, "after": f"{topic}:1"})
    for transport, topic in topics.items():
        want = [f"notification {topic}:2", f"reset {topic} 2->4 expired", f"notification {topic}:5"]

        def probe() -> str | None:
            got = page.state(transport)
            return None if len(got["events"]) >= 3 else f"{transport}: events so far {got['events']}; {last_status(got)}; {history(got)}"

        wait_until(8, probe)
        time.sleep(0.3)
        events = page.state(transport)["events"]
        check(events == want, f"{transport}: callbacks {events}, expected {want}")


def restart_case(ctx: Context, transport: str, expected: str) -> None:
    """200 publishes to one topic while the server is stopped (SIGTERM) and started again on
    the same port and data folder; the page (shared: false, no clientId) must get every
    answered seq exactly once, in order."""
    server = ctx.server("restart")
    page = ctx.page(server)
    topic = topic_name("restart", transport)
    page.start("sub", {"topics": [topic], "transport": transport, "shared": False, "after": f"{topic}:0"})
    if transport == "auto":
        wait_live(page, "sub", transport=expected)  # auto starts on WebSocket
    else:
        wait_until(10, lambda: None if page.state("sub")["transport"] == expected else f"not on {expected}: {history(page.state('sub'))}")
    publisher = Publisher(server, topic, 200, event="tick")
    publisher.start()

    def ready_for_restart() -> str | None:
        if not publisher.is_alive():
            return None
        delivered = page.state("sub")["count"]
        if len(publisher.answered) >= 60 and delivered > 0:
            return None
        return f"before the restart: {len(publisher.answered)} of 60 publishes answered, {delivered} delivered to the page"

    wait_until(20, ready_for_restart)
    check(not publisher.problems, "; ".join(publisher.problems))
    before = len(publisher.answered)
    statuses_before = len(page.state("sub")["statuses"])
    started = time.monotonic()
    restart_problem = None
    try:
        server.restart()
    except ServerError as failure:
        # Reported at the end: what the page received is worth knowing all the same.
        restart_problem = str(failure)
    down = time.monotonic() - started
    ctx.notes.append(f"restarted after {before} publishes, down {down:.1f} s")
    publisher.join(timeout=90)
    check(not publisher.is_alive(), f"the publisher did not finish within 90 s ({len(publisher.answered)} answered)")
    check(not publisher.problems, "; ".join(publisher.problems))
    answered = sorted(publisher.answered)
    check(len(answered) == 200 and len(set(answered)) == 200, f"the publisher's answers hold {len(set(answered))} distinct seqs, expected 200")
    check(before < 200, "all 200 publishes were answered before the restart: the restart happened after the test's traffic")

    def probe() -> str | None:
        got = page.state("sub")
        seqs = seqs_of(got)
        return None if seqs == answered else f"{describe_seqs(seqs, answered)}; {last_status(got)}; {history(got)}"

    try:
        # 20 s after the last publish; more when the server took long to stop, as the
        # library's back-off grew meanwhile (up to 30 s between tries).
        wait_until(20 if down < 5 else 35, probe, interval=0.25)
        time.sleep(0.5)  # a repeat after the last would show now
        state = page.state("sub")
        seqs = seqs_of(state)
        check(seqs == answered, f"after the last: {describe_seqs(seqs, answered)}")
    except Failure as failure:
        raise Failure(f"{restart_problem}; and the page: {failure}" if restart_problem else str(failure)) from None
    if restart_problem:
        raise Failure(f"{restart_problem} (the page did get every seq once, in order, over {state['transport']}; {history(state)})")
    after_restart = [s.get("state") for s in state["statuses"][statuses_before:]]
    check(
        any(s in ("offline", "connecting") for s in after_restart),
        f"the page never reported losing its connection during the restart (statuses since: {after_restart})",
    )
    if transport == "auto":
        # docs/api.md: a transport that failed (the server down) while a later one opened is
        # skipped for 5 minutes, so auto may go on over SSE or long-poll.
        ctx.notes.append(f"auto went on over {state['transport']}")
    else:
        check(state["transport"] == expected, f"after the restart sub.transport is {state['transport']!r}, expected {expected}; {history(state)}")
    ctx.notes.append(f"{publisher.refused} publish tries refused during the restart, {publisher.repeats} answered 200 on retry")
    if publisher.repeat_causes:
        # A retry answered 200: its first try was committed but not answered 2xx. Fine when
        # it got no answer; a 503 saying "nothing was stored" would be wrong.
        ctx.notes.append("committed though not answered: " + " | ".join(publisher.repeat_causes))
        wrong = [c for c in publisher.repeat_causes if "nothing was stored" in c]
        check(not wrong, f"a publish answered 503 'nothing was stored' was stored all the same: {wrong}")


def test_restart_auto(ctx: Context) -> None:
    """Server restart during 200 publishes, page on `auto` (WebSocket at first): every seq once, in order."""
    restart_case(ctx, "auto", "websocket")


def test_restart_websocket(ctx: Context) -> None:
    """The same with `transport: "websocket"` (reconnects over WebSocket)."""
    restart_case(ctx, "websocket", "websocket")


def test_restart_sse(ctx: Context) -> None:
    """The same with `transport: "sse"`."""
    restart_case(ctx, "sse", "sse")


def test_restart_longpoll(ctx: Context) -> None:
    """The same with `transport: "longpoll"`."""
    restart_case(ctx, "longpoll", "longpoll")


def test_persist(ctx: Context) -> None:
    """`persist: true` resumes after a reload: 1..3 delivered, reload, 4 and 5 published while
    nothing runs, the same options started again deliver 4 then 5. The control (the same
    options without persist) starts again from its `after`."""
    server = ctx.server("shared")
    page = ctx.page(server)
    topic = topic_name("persist")
    # `after: topic:0` is used only when nothing is stored: without persistence, the second
    # start would deliver 1..5 again (and starting "now", nothing).
    options = {"topics": [topic], "transport": "auto", "shared": False, "persist": True, "after": f"{topic}:0"}
    page.start("first", options)
    wait_live(page, "first")
    for n in range(1, 4):
        publish(server, topic, {"n": n})

    def got_three() -> str | None:
        got = page.state("first")
        return None if seqs_of(got) == [1, 2, 3] else f"before the reload: {describe_seqs(seqs_of(got), [1, 2, 3])}; {last_status(got)}"

    wait_until(5, got_three)
    page.driver.refresh()
    page.require_library()
    for n in range(4, 6):
        publish(server, topic, {"n": n})
    page.start("again", options)

    def got_two() -> str | None:
        got = page.state("again")
        return None if len(got["notifications"]) >= 2 else f"after the reload: {describe_seqs(seqs_of(got), [4, 5])}; {last_status(got)}; {history(got)}"

    wait_until(8, got_two)
    time.sleep(0.5)  # a repeat or more would show now
    state = page.state("again")
    seqs = seqs_of(state)
    check(seqs == [4, 5], f"after the reload with persist: true the page got {seqs}, expected [4, 5] (first 4: nothing repeated, nothing missed)")
    check(not state["resets"], f"after the reload: unexpected resets {state['resets']}")
    page.stop("again")
    # Control: the same options without persist start at `after` (so it was persist that resumed).
    control = dict(options, persist=False)
    page.start("control", control)
    wait_until(8, lambda: None if len(page.state("control")["notifications"]) >= 5 else f"control: {describe_seqs(seqs_of(page.state('control')), [1, 2, 3, 4, 5])}")
    check(seqs_of(page.state("control")) == [1, 2, 3, 4, 5], f"control (persist: false, after {topic}:0): got {seqs_of(page.state('control'))}")


def test_reset(ctx: Context) -> None:
    """An admin purge through 3 of 5, then `after: topic:1`: onreset gets {topic, requested_after: 1,
    resumed_after: 3, reason: purged} before seqs 4 and 5 (on WebSocket, SSE and long-poll)."""
    server = ctx.server("shared")
    page = ctx.page(server)
    for transport in ("websocket", "sse", "longpoll"):
        topic = topic_name("reset", transport)
        for n in range(1, 6):
            publish(server, topic, {"n": n})
        status, body = http("DELETE", f"{server.base_url}/v1/topics/{topic}/notifications?through_seq=3")
        check(status == 200, f"DELETE /v1/topics/{topic}/notifications?through_seq=3 answered {status}: {body[:200]!r}")
        page.start(transport, {"topics": [topic], "transport": transport, "shared": False, "after": f"{topic}:1"})

        def probe() -> str | None:
            got = page.state(transport)
            return None if len(got["notifications"]) >= 2 else f"{transport}: events so far {got['events']}; {last_status(got)}; {history(got)}"

        wait_until(8, probe)
        time.sleep(0.3)
        state = page.state(transport)
        want = {"topic": topic, "requested_after": 1, "resumed_after": 3, "reason": "purged"}
        check(len(state["resets"]) == 1, f"{transport}: onreset was called {len(state['resets'])} times: {state['resets']}")
        reset = {k: state["resets"][0].get(k) for k in want}
        check(reset == want, f"{transport}: onreset got {state['resets'][0]}, expected {want}")
        expected_events = [f"reset {topic} 1->3 purged", f"notification {topic}:4", f"notification {topic}:5"]
        check(state["events"] == expected_events, f"{transport}: callbacks in the order {state['events']}, expected {expected_events}")
        page.stop(transport)


def test_tabs(ctx: Context) -> None:
    """Two tabs, `shared: true`: one WebSocket connection for both, one leader and one follower;
    the leader closed after ~30 of 100 publishes, the other tab gets every seq once, in order,
    and ends as the leader."""
    server = ctx.server("tabs")
    topic = topic_name("tabs")
    options = {"topics": [topic], "transport": "websocket", "shared": True, "after": f"{topic}:0"}
    first = ctx.page(server)
    first.start("sub", options)
    driver = first.driver
    driver.switch_to.new_window("tab")
    second = Page(first.browser, server, driver.current_window_handle)
    second.open()
    second.start("sub", options)
    pages = [first, second]
    publish(server, topic, {"n": 0})  # seq 1: both tabs must deliver it

    def both_have_it() -> str | None:
        states = [p.state("sub") for p in pages]
        if all(seqs_of(s) == [1] for s in states):
            return None
        return "; ".join(f"tab {i + 1}: seqs {seqs_of(s)}, {last_status(s)}" for i, s in enumerate(states))

    wait_until(10, both_have_it)

    def one_connection() -> str | None:
        value = metrics(server).get('herald_open_connections{transport="websocket"}')
        return None if value == 1 else f'/metrics shows herald_open_connections{{transport="websocket"}} {value}, expected 1 for two tabs sharing one connection'

    wait_until(3, one_connection)
    time.sleep(0.5)
    one_connection_now = one_connection()
    check(one_connection_now is None, f"after both tabs delivered: {one_connection_now}")
    roles = [(p.state("sub").get("status") or {}).get("role") for p in pages]
    check(sorted(roles, key=str) == ["follower", "leader"], f"the tabs report roles {roles}, expected one leader and one follower")
    leader, follower = (first, second) if roles[0] == "leader" else (second, first)
    follower_transport = follower.state("sub")["transport"]
    check(follower_transport == "websocket", f"the follower's sub.transport is {follower_transport!r}, expected the leader's (websocket)")

    publisher = Publisher(server, topic, 100, event="tick", pause=0.02)
    publisher.start()
    wait_until(20, lambda: None if len(publisher.answered) >= 30 or not publisher.is_alive() else f"only {len(publisher.answered)} of 30 publishes answered")
    leader.focus()
    leader.browser.collect_console()
    closed_at = driver.execute_script("return Date.now()")
    driver.close()
    driver.switch_to.window(follower.handle)
    closed_after = len(publisher.answered)
    publisher.join(timeout=60)
    check(not publisher.problems, "; ".join(publisher.problems))
    want = [1] + sorted(publisher.answered)
    check(want == list(range(1, 102)), f"the publishes were answered with seqs {short(want)}, expected 1..101")

    def all_delivered() -> str | None:
        got = follower.state("sub")
        seqs = seqs_of(got)
        return None if seqs == want else f"the remaining tab: {describe_seqs(seqs, want)}; {last_status(got)}; {history(got)}"

    wait_until(20, all_delivered, interval=0.25)
    time.sleep(0.5)
    state = follower.state("sub")
    check(seqs_of(state) == want, f"the remaining tab, after the last: {describe_seqs(seqs_of(state), want)}")
    role = (state.get("status") or {}).get("role")
    check(role == "leader", f"the remaining tab ends as {role!r}, expected leader; {history(state)}")
    wait_until(5, one_connection)
    ctx.notes.append(f"leader (tab {pages.index(leader) + 1}) closed after {closed_after} of 100 publishes")
    took_over = [st["__at"] for st in state["statuses"] if st.get("role") == "leader" and st.get("state") in ("live", "catching-up") and st["__at"] >= closed_at]
    if took_over:
        ctx.notes.append(f"the other tab was connected as leader {took_over[0] - closed_at} ms after the close")


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    check(header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    return struct.unpack(">II", header[16:24])


def test_demo_page(ctx: Context) -> None:
    """The demo page as a user drives it: topics, Connect, live, the publish form, the entry in
    the feed; screenshots at 1280 px and at a phone's 390 px, where nothing scrolls sideways."""
    server = ctx.server("shared")
    page = ctx.page(server)
    driver = page.driver
    topic = topic_name("demo")
    find = lambda css: driver.find_element(By.CSS_SELECTOR, css)  # noqa: E731
    missing = [i for i in ("topics", "transport", "client", "token", "persist", "connect", "disconnect", "status", "status-transport",
                           "cursor", "feed", "publish-form", "publish-topic", "publish-event", "publish-data", "publish-ttl",
                           "publish-submit", "publish-result") if not driver.find_elements(By.ID, i)]  # fmt: skip
    check(not missing, f"the demo page has no element with id {', '.join(missing)}")
    find("#topics").clear()
    find("#topics").send_keys(topic)
    find("#connect").click()

    def live() -> str | None:
        text = find("#status").text.strip().lower()
        return None if text == "live" else f"#status says {text!r} (#status-transport {find('#status-transport').text!r}), expected live"

    wait_until(10, live)
    find("#publish-topic").clear()
    find("#publish-topic").send_keys(topic)
    find("#publish-event").clear()
    find("#publish-event").send_keys("greeting")
    find("#publish-data").clear()
    find("#publish-data").send_keys('{"hello":"world"}')
    find("#publish-submit").click()

    def published() -> str | None:
        status, body = http("GET", f"{server.base_url}/v1/topics/{topic}/notifications/1")
        if status == 200:
            return None
        return f"GET /v1/topics/{topic}/notifications/1 is {status}; #publish-result says {find('#publish-result').text!r}"

    wait_until(5, published)
    stored = json.loads(http("GET", f"{server.base_url}/v1/topics/{topic}/notifications/1")[1])
    check(stored["event"] == "greeting" and stored["data"] == {"hello": "world"}, f"the form published {stored}, expected event greeting and data {{'hello': 'world'}}")
    selector = f'#feed .entry[data-kind="notification"][data-topic="{topic}"][data-seq="1"][data-event="greeting"]'

    def in_feed() -> str | None:
        if driver.find_elements(By.CSS_SELECTOR, selector):
            return None
        entries = [(e.get_attribute("data-kind"), e.get_attribute("data-topic"), e.get_attribute("data-seq"), e.get_attribute("data-event")) for e in driver.find_elements(By.CSS_SELECTOR, "#feed .entry")]
        return f"no {selector} in the feed; its entries (kind, topic, seq, event): {entries[:5]}; #publish-result: {find('#publish-result').text!r}"

    wait_until(5, in_feed)
    entry_text = driver.find_element(By.CSS_SELECTOR, selector).text
    check("hello" in entry_text and "world" in entry_text, f"the feed entry does not show the data: {entry_text!r}")
    result = find("#publish-result").text
    check("1" in result and "error" not in (find("#publish-result").get_attribute("class") or ""), f"#publish-result says {result!r}")
    cursor = find("#cursor").text
    check(cursor == f"{topic}:1", f"#cursor says {cursor!r}, expected {topic}:1")

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shots = []
    for width, height, mobile, label in ((1280, 900, False, "desktop"), (390, 844, True, "phone")):
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
        time.sleep(0.3)
        inner, scroll = driver.execute_script("return [window.innerWidth, document.documentElement.scrollWidth]")
        path = ARTIFACTS / f"demo-{width}x{height}.png"
        check(driver.save_screenshot(str(path)), f"could not write {path}")
        shots.append(path)
        log(f"  screenshot ({label}): {path}")
        check(png_size(path)[0] == width, f"{path} is {png_size(path)[0]} px wide, expected {width}")
        check(inner == width, f"at {width}x{height} ({label}) the page's innerWidth is {inner} (a phone-width page needs <meta name=viewport content=width=device-width>)")
        check(scroll <= inner, f"at {width}x{height} ({label}) the page scrolls sideways: scrollWidth {scroll} > innerWidth {inner}")
        if mobile:
            # The whole page at phone width (the feed is below the forms there).
            full = driver.execute_script("return document.documentElement.scrollHeight")
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": full, "scale": 1}})
            path = ARTIFACTS / f"demo-{width}-full.png"
            path.write_bytes(base64.b64decode(shot["data"]))
            shots.append(path)
            log(f"  screenshot ({label}, whole page): {path}")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    ctx.notes.append("screenshots " + ", ".join(str(p.relative_to(REPO)) for p in shots))


def test_module(ctx: Context) -> None:
    """`await import("/herald.mjs")` works, exports Subscription (and a default Herald with it),
    and its Subscription delivers a notification."""
    server = ctx.server("shared")
    page = ctx.page(server)
    driver = page.driver
    answer = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        import("/herald.mjs").then((m) => {
          window.HeraldModule = m;
          done({ keys: Object.keys(m).sort(), subscription: typeof m.Subscription, defaultKind: typeof m.default,
                 defaultSubscription: !!(m.default && m.default.Subscription === m.Subscription) });
        }, (e) => done({ error: String(e) }));
        """
    )
    check("error" not in answer, f'import("/herald.mjs") failed: {answer.get("error")}')
    check(answer["subscription"] == "function", f"/herald.mjs exports {answer['keys']}; Subscription is {answer['subscription']}, expected a class")
    check(answer["defaultSubscription"], f"/herald.mjs's default export ({answer['defaultKind']}) has no Subscription equal to the named export (docs/api.md: export default Herald)")
    topic = topic_name("module")
    driver.execute_script(HARNESS + "return window.HT.start(arguments[0], arguments[1], window.HeraldModule);", "module", {"topics": [topic], "shared": False, "after": f"{topic}:0"})
    wait_live(page, "module")
    answered = publish(server, topic, {"from": "module"}, event="order.created")
    wait_until(5, lambda: None if page.state("module")["notifications"] else f"the module's Subscription delivered nothing; {history(page.state('module'))}")
    differences = same_notification(page.state("module")["notifications"][0], answered)
    check(not differences, f"the module's Subscription delivered a different notification: {'; '.join(differences)}")


AUTH_SECRET = "browser-test-secret-0123456789abcdef"


def mint(ctx: Context, ttl: str, sub: str = "alice", admin: bool = False) -> str:
    """A token from `herald token` (its last line of output)."""
    binary = ctx.servers["auth"].binary
    flags = ["--admin"] if admin else ["--subscribe", "*-tok-*", "--publish", "*-tok-*"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    done = subprocess.run([binary, "token", "--sub", sub, *flags, "--ttl", ttl, "--auth-secret", AUTH_SECRET],
                          capture_output=True, text=True, env=env, timeout=30)
    check(done.returncode == 0, f"herald token exited {done.returncode}: {done.stderr[-300:]}")
    return done.stdout.strip().splitlines()[-1]


def test_tokens(ctx: Context) -> None:
    """With --auth-secret: a token function is called again on every reconnect. Tokens that
    expire after 2, 4, 6 ... s end the stream (SSE ends, WebSocket closes 1008, a long-poll
    gets 401); the library asks for the next one and goes on, every notification once, in
    order, on WebSocket, SSE and long-poll. The token goes in a header (SSE, polls, publish)
    and in access_token only on the WebSocket upgrade; sub.publish works with it. A topic the
    token does not allow ends in onerror (forbidden) and `closed` on every transport."""
    server = ctx.server("auth")
    admin = {"Authorization": "Bearer " + mint(ctx, "1h", sub="root", admin=True)}
    page = ctx.page(server)
    for transport in ("websocket", "sse", "longpoll"):
        topic = topic_name("tok", transport)
        tokens = [mint(ctx, f"{2 * (i + 1)}s") for i in range(6)]
        page.focus()
        page.driver.execute_script(HARNESS + """
            const queue = arguments[2];
            window.tokenCalls = window.tokenCalls || {};
            window.tokenCalls[arguments[0]] = 0;
            const options = arguments[1];
            // Handed out one by one (async, as a refresh would be); the last one stays.
            options.token = async () => { window.tokenCalls[arguments[0]] += 1; return queue.length > 1 ? queue.shift() : queue[0]; };
            return window.HT.start(arguments[0], options);
        """, transport, {"topics": [topic], "transport": transport, "shared": False, "clientId": "alice", "after": f"{topic}:0"}, tokens)
        wait_live(page, transport, transport=transport)
        answered: list[int] = []
        for n in range(45):  # about 4.5 s: past the first two tokens' expiry
            status, body = http("POST", f"{server.base_url}/v1/topics/{topic}/notifications", {"event": "tick", "data": {"n": n}}, admin)
            check(status == 201, f"publish with the admin token answered {status}: {body[:200]!r}")
            answered.append(json.loads(body)["seq"])
            time.sleep(0.1)
        published = page.driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            window.HT.subs[arguments[0]].sub.publish(arguments[1], {from: "page"}, {event: "page.said"})
              .then((n) => done({seq: n.seq, event: n.event}), (e) => done({error: String(e.code || e)}));
        """, transport, topic)
        check("seq" in published, f"{transport}: sub.publish with the token failed: {published}")
        answered.append(published["seq"])

        def probe() -> str | None:
            got = page.state(transport)
            return None if seqs_of(got) == answered else f"{transport}: {describe_seqs(seqs_of(got), answered)}; {last_status(got)}; {history(got)}"

        wait_until(15, probe, interval=0.25)
        calls = page.driver.execute_script("return window.tokenCalls[arguments[0]]", transport)
        check(calls >= 3, f"{transport}: the token function was called {calls} times; expected one call per connection, 3 or more as tokens expired")
        state = page.state(transport)
        check(not state["errors"], f"{transport}: onerror was called: {state['errors']}")
        page.stop(transport)
    # A topic the token does not allow: refused (403) on every transport; the library says so
    # through onerror and stops, on WebSocket too (whose refusal a browser is not told).
    for transport in ("websocket", "sse", "longpoll"):
        name = "forbidden-" + transport
        page.focus()
        page.driver.execute_script(HARNESS + """
            const options = arguments[1];
            options.token = arguments[2];
            return window.HT.start(arguments[0], options);
        """, name, {"topics": [topic_name("nope", transport)], "transport": transport, "shared": False}, mint(ctx, "1h"))

        def refused() -> str | None:
            got = page.state(name)
            codes = [e.get("code") for e in got["errors"]]
            state = (got.get("status") or {}).get("state")
            return None if codes == ["forbidden"] and state == "closed" else f"{transport}: errors {got['errors']}, {last_status(got)}"

        wait_until(10, refused)
    log_text = server.log_path.read_text(errors="replace")
    in_query = [line for line in log_text.splitlines() if "access_token=" in line]
    check(all("/v1/ws" in line for line in in_query), f"access_token in a query other than the WebSocket upgrade's: {in_query[:3]}")
    check(any("/v1/ws" in line for line in in_query), "no WebSocket upgrade carried access_token")
    # (Lines starting "--- " are the harness's own: the command it ran.)
    check(not any(AUTH_SECRET in line for line in log_text.splitlines() if not line.startswith("--- ")), "the secret is in the server's log")


def test_publish_across_close(ctx: Context) -> None:
    """Publishes over a WebSocket that the server closes under them (its token expires):
    each sub.publish resolves with its notification, and each is stored exactly once. Those
    the close caught in flight went again over REST with the key herald.js gave them (the
    test sees those POSTs, so it knows the close caught some)."""
    server = ctx.server("auth")
    page = ctx.page(server)
    topic = topic_name("tok", "close")  # tokens allow *-tok-*
    tokens = [mint(ctx, "3s"), mint(ctx, "1h")]
    page.focus()
    page.driver.execute_script(HARNESS + """
        const queue = arguments[1];
        const options = arguments[0];
        options.token = async () => (queue.length > 1 ? queue.shift() : queue[0]);
        if (!window.keyedPosts) {
          window.keyedPosts = [];
          const original = window.fetch;
          window.fetch = (url, init) => {
            const key = init && init.headers && init.headers["Idempotency-Key"];
            if (init && init.method === "POST" && key) window.keyedPosts.push(key);
            return original(url, init);
          };
        }
        return window.HT.start("close", options);
    """, {"topics": [topic], "transport": "websocket", "shared": False, "clientId": "alice", "after": f"{topic}:0"}, tokens)
    wait_live(page, "close", transport="websocket")
    # Five publishes in flight at any time, for 4 s: the token's expiry (3 s after it was
    # minted) closes the socket with some of them unanswered.
    outcome = page.driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const sub = window.HT.subs.close.sub;
        const results = [];
        let n = 0;
        const until = Date.now() + 4000;
        const lane = async () => {
          while (Date.now() < until) {
            const mine = n++;
            try {
              const got = await sub.publish(arguments[0], {n: mine}, {event: "page.said"});
              results.push({n: mine, seq: got.seq});
            } catch (e) {
              results.push({n: mine, error: String(e.code || e) + ": " + String(e.message || "")});
            }
          }
        };
        Promise.all([lane(), lane(), lane(), lane(), lane()]).then(() => done({results, keyed: window.keyedPosts.length}));
    """, topic)
    results = outcome["results"]
    failed = [r for r in results if "seq" not in r]
    check(not failed, f"{len(failed)} of {len(results)} publishes failed, first: {failed[:3]}")
    check(outcome["keyed"] >= 1, f"none of {len(results)} publishes was in flight when the socket closed (no POST with herald.js's key); the test did not test the retry")
    admin = {"Authorization": "Bearer " + mint(ctx, "1h", sub="root", admin=True)}
    stored: list[dict] = []
    while True:
        status, body = http("GET", f"{server.base_url}/v1/poll?topics={topic}&after={topic}:{len(stored)}&limit=1000", headers=admin)
        check(status == 200, f"poll answered {status}: {body[:200]!r}")
        page_of = json.loads(body)["notifications"]
        stored += page_of
        if len(page_of) < 1000:
            break
    by_n: dict[int, list[int]] = {}
    for notification in stored:
        by_n.setdefault(notification["data"]["n"], []).append(notification["seq"])
    twice = {n: seqs for n, seqs in by_n.items() if len(seqs) > 1}
    check(not twice, f"stored more than once (n: seqs): {dict(list(twice.items())[:5])}")
    answered = {r["n"]: r["seq"] for r in results}
    differ = {n: (seq, by_n.get(n)) for n, seq in answered.items() if by_n.get(n) != [seq]}
    check(not differ, f"answered seq against stored seqs (n: (answered, stored)): {dict(list(differ.items())[:5])}")
    check(len(stored) == len(results), f"{len(stored)} stored, {len(results)} published")
    ctx.notes.append(f"{len(results)} publishes, {outcome['keyed']} again over REST")
    page.stop("close")


TESTS: list[tuple[str, Callable[[Context], None]]] = [
    ("transports", test_transports),
    ("fallback_sse", test_fallback_sse),
    ("fallback_longpoll", test_fallback_longpoll),
    ("fallback_poll", test_fallback_poll),
    ("restart_auto", test_restart_auto),
    ("restart_websocket", test_restart_websocket),
    ("restart_sse", test_restart_sse),
    ("restart_longpoll", test_restart_longpoll),
    ("persist", test_persist),
    ("reset", test_reset),
    ("gap", test_gap),
    ("tabs", test_tabs),
    ("demo_page", test_demo_page),
    ("module", test_module),
    ("tokens", test_tokens),
    ("publish_across_close", test_publish_across_close),
]

# The servers, by the flags they need; tests on "shared" use topics of their own.
SERVERS: dict[str, list[str]] = {
    "shared": [],
    "no-websocket": ["--transports", "sse,longpoll,poll"],
    "longpoll-only": ["--transports", "longpoll,poll"],
    "poll-only": ["--transports", "poll"],
    "restart": [],  # restarted by the restart tests
    "tabs": [],  # its /metrics count the two-tab test's connections alone
    "auth": ["--auth-secret", AUTH_SECRET],
}
NEEDS = {
    "transports": ["shared"], "fallback_sse": ["no-websocket"], "fallback_longpoll": ["longpoll-only"], "fallback_poll": ["poll-only"], "gap": ["shared"],
    "restart_auto": ["restart"], "restart_websocket": ["restart"], "restart_sse": ["restart"], "restart_longpoll": ["restart"],
    "persist": ["shared"], "reset": ["shared"], "tabs": ["tabs"], "demo_page": ["shared"], "module": ["shared"], "tokens": ["auth"],
    "publish_across_close": ["auth"],
}  # fmt: skip


# MARK: - Main


def main(arguments: list[str]) -> int:
    if "--list" in arguments:
        for name, function in TESTS:
            print(f"{name}: {' '.join((function.__doc__ or '').split())}")
        return 0
    unknown = [a for a in arguments if a not in dict(TESTS)]
    if unknown:
        log(f"no test named {', '.join(unknown)} (--list lists them)")
        return 64
    selected = [(n, f) for n, f in TESTS if not arguments or n in arguments]
    binary = os.environ.get("HERALD_BIN") or ".build/debug/herald"
    binary = str((REPO / binary) if not os.path.isabs(binary) else Path(binary))
    if not os.access(binary, os.X_OK):
        log(f"{binary} is not an executable (build it, or set HERALD_BIN)")
        return 1

    began = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="herald-browser-"))
    servers = {name: Server(name, binary, folder / name, flags) for name, flags in SERVERS.items() if any(name in NEEDS[n] for n, _ in selected)}
    results: list[tuple[str, bool, str]] = []
    teardown: list[str] = []
    # The servers start side by side (each initializes its own PostgreSQL: about 2 s).
    start_errors: dict[str, str] = {}

    def start(server: Server) -> None:
        try:
            server.start()
        except Exception as error:  # noqa: BLE001 - reported as the tests' failure
            start_errors[server.name] = str(error)

    starters = [threading.Thread(target=start, args=(s,)) for s in servers.values()]
    for thread in starters:
        thread.start()
    for thread in starters:
        thread.join()
    log(f"{len(servers)} servers ready after {time.monotonic() - began:.1f} s: " + ", ".join(f"{s.name} {s.base_url} {' '.join(s.flags)}".strip() for s in servers.values() if s.name not in start_errors))

    try:
        for name, function in selected:
            ctx = Context(name, folder / "tests" / name, servers)
            ctx.folder.mkdir(parents=True)
            started = time.monotonic()
            reason = ""
            try:
                for needed in NEEDS[name]:
                    if needed in start_errors:
                        raise Failure(start_errors[needed])
                function(ctx)
                passed = True
            except Failure as failure:
                passed, reason = False, str(failure)
            except WebDriverException as error:
                passed, reason = False, f"WebDriver: {error.msg or error}"
            except Exception as error:  # noqa: BLE001 - the test itself broke: say so
                passed, reason = False, f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=4)}"
            took = time.monotonic() - started
            if ctx.browser is not None:
                if not passed:
                    try:
                        ARTIFACTS.mkdir(parents=True, exist_ok=True)
                        shot = ARTIFACTS / f"failed-{name}.png"
                        if ctx.browser.driver.save_screenshot(str(shot)):
                            reason += f"\n    screenshot of the page: {shot}"
                    except WebDriverException:
                        pass
                for handle in list(ctx.browser.driver.window_handles) if _alive(ctx.browser) else []:
                    try:
                        ctx.browser.driver.switch_to.window(handle)
                        ctx.browser.collect_console()
                    except WebDriverException:
                        pass
                ctx.browser.quit()
            notes = f" ({'; '.join(ctx.notes)})" if ctx.notes and passed else ""
            if passed:
                log(f"PASS {name} [{took:.1f} s]{notes}")
            else:
                log(f"FAIL {name} [{took:.1f} s]: {reason}")
                if ctx.browser is not None and ctx.browser.console:
                    log("  browser console:")
                    for line in ctx.browser.console[-30:]:
                        print(f"    {line}", flush=True)
                for server in ctx.used:
                    tail = server.log_tail()
                    if tail:
                        log(f"  server {server.name} log ({server.log_path}), warnings and errors, then its last lines:")
                        print("\n".join(f"    {line}" for line in tail.splitlines()), flush=True)
            results.append((name, passed, reason))
    finally:
        for server in servers.values():
            if server.process is None:
                continue
            status = server.stop()  # a restart's stop is the restart test's to report
            if status != 0:
                teardown.append(
                    f"server {server.name}: herald serve exited with status {status} on SIGTERM at the end (expected 0)"
                    if status is not None
                    else f"server {server.name}: herald serve did not exit within 30 s of SIGTERM at the end and was killed"
                )
                tail = server.log_tail()
                if tail:
                    log(f"server {server.name} log ({server.log_path}):")
                    print("\n".join(f"    {line}" for line in tail.splitlines()), flush=True)

    failed = [name for name, passed, _ in results if not passed]
    log()
    log(f"{len(results) - len(failed)} of {len(results)} tests passed in {time.monotonic() - began:.0f} s" + (f"; failed: {', '.join(failed)}" if failed else ""))
    for problem in teardown:
        log(f"FAIL teardown: {problem}")
    if os.environ.get("HERALD_BROWSER_KEEP") == "1":
        log(f"kept {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 1 if failed or teardown else 0


def _alive(browser: Browser) -> bool:
    try:
        browser.driver.window_handles
        return True
    except WebDriverException:
        return False


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
