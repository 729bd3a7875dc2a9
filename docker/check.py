"""Helpers of docker/check.sh (Python 3 standard library, plus PyYAML for `static`).

    check.py static ROOT                     the Dockerfile, compose.yaml, nginx.conf
    check.py nginx-copy SRC DST P1 P2 PL     nginx.conf for loopback: herald1/herald2 -> ports
    check.py sse LB_PORT                     SSE through the load balancer, unbuffered
    check.py ws LB_PORT                      WebSocket upgrade and frames through it
    check.py poll LB_PORT                    a long-poll (wait=3) through it
    check.py unauthorized LB_PORT            without a token: 401 (when Herald has a secret)

The live checks send CHECK_TOKEN (environment) as a bearer token when it is set.

Each prints what it checked and exits 1 with the reason on the first failure.
"""

import base64
import fnmatch
import glob
import hashlib
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def ok(message):
    print(f"  ok: {message}")


def seconds(text):
    """A duration as compose and nginx write them: 90s, 1h, 20s, 10m (or a bare number)."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", str(text).strip())
    if not match:
        fail(f"cannot read the duration {text!r}")
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]
    return int(match.group(1)) * unit


# --- static --------------------------------------------------------------------------


def dockerfile_instructions(path):
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines, current = [], ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if line.strip().startswith("#") or not line.strip():
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        lines.append(current.strip())
        current = ""
    return [(l.split(None, 1)[0].upper(), l.split(None, 1)[1] if " " in l else "") for l in lines]


def dockerignore_patterns(root):
    path = os.path.join(root, ".dockerignore")
    if not os.path.exists(path):
        return []
    return [l.strip() for l in open(path) if l.strip() and not l.startswith("#")]


def check_dockerfile(root):
    path = os.path.join(root, "docker", "Dockerfile")
    steps = dockerfile_instructions(path)
    text = open(path, encoding="utf-8").read()
    args = {}
    for name, rest in steps:
        if name == "ARG" and "=" in rest:
            key, value = rest.split("=", 1)
            args[key.strip()] = value.strip()
    stages = []  # [(base image, [instructions])]
    for name, rest in steps:
        if name == "FROM":
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), rest.split()[0])
            stages.append((base, []))
        elif stages:
            stages[-1][1].append((name, rest))
    if len(stages) != 2:
        fail(f"Dockerfile: expected two stages (build, runtime), found {len(stages)}")
    (build_base, build), (run_base, run) = stages

    # Build stage: a Swift image new enough for the package, on the runtime's Debian.
    tools = re.search(r"swift-tools-version:\s*(\d+)\.(\d+)", open(os.path.join(root, "Package.swift")).read())
    image = re.fullmatch(r"swift:(\d+)\.(\d+)(?:\.\d+)?-(\w+)", build_base)
    if not image:
        fail(f"Dockerfile: the build stage's base {build_base!r} is not swift:X.Y-<debian release>")
    if (int(image.group(1)), int(image.group(2))) < (int(tools.group(1)), int(tools.group(2))):
        fail(f"Dockerfile: {build_base} is older than swift-tools-version {tools.group(1)}.{tools.group(2)}")
    if run_base != f"debian:{image.group(3)}-slim":
        fail(f"Dockerfile: runtime {run_base!r} is not debian:{image.group(3)}-slim (the build's Debian release, for libpq and glibc)")
    ok(f"stages: {build_base} (tools {tools.group(1)}.{tools.group(2)} needed) -> {run_base}")

    build_runs = " ".join(rest for name, rest in build if name == "RUN")
    if "libpq-dev" not in build_runs or 'pkgConfig: "libpq"' not in open(os.path.join(root, "Package.swift")).read():
        fail("Dockerfile: the build stage must install libpq-dev (Package.swift's CLibPQ uses pkg-config libpq)")
    makefile = open(os.path.join(root, "Makefile")).read()
    release = re.search(r"^release:.*\n((?:\t.*\n)+)", makefile, re.M)
    if not release or "build -c release" not in release.group(1):
        fail("Makefile: no `release` target running `swift build -c release`")
    build_cmd = re.search(r"swift build ([^&;]*)", build_runs)
    if not build_cmd or not build_cmd.group(0).startswith("swift build -c release") or "--product herald" not in build_cmd.group(0):
        fail("Dockerfile: the build must be the Makefile's `swift build -c release`, with --product herald")
    if '.executable(name: "herald"' not in open(os.path.join(root, "Package.swift")).read():
        fail("Package.swift: no executable product `herald`")
    ok(f"build: `{build_cmd.group(0).strip()}` matches the Makefile's release build; libpq-dev installed")

    # Every COPY source exists, is in a clean clone (not git-ignored, as Package.resolved
    # is) and is not excluded by .dockerignore. A pattern (`Package.resolve[d]`) is an
    # optional file: it may match nothing.
    ignored = dockerignore_patterns(root)
    for name, rest in build + run:
        if name != "COPY" or "--from=" in rest:
            continue
        words = [w for w in rest.split() if not w.startswith("--")]
        for source in words[:-1]:
            for pattern in ignored:
                if fnmatch.fnmatch(source.rstrip("/"), pattern.rstrip("/")):
                    fail(f"Dockerfile: COPY {source} is excluded by .dockerignore ({pattern})")
            if glob.has_magic(source):
                continue
            if not os.path.exists(os.path.join(root, source)):
                fail(f"Dockerfile: COPY {source}: no such file")
            ignored_by_git = subprocess.run(["git", "-C", root, "check-ignore", "-q", "--", source], capture_output=True)
            if ignored_by_git.returncode == 0:
                fail(f"Dockerfile: COPY {source}: git-ignored, so a clean clone has no such file")
            if ignored_by_git.returncode != 1:  # not a git work tree, or git refused it
                fail(f"Dockerfile: COPY {source}: cannot ask git whether it is ignored: {ignored_by_git.stderr.decode().strip()}")
    if not os.access(os.path.join(root, "docker", "healthcheck.sh"), os.X_OK):
        fail("docker/healthcheck.sh is not executable")
    ok("every COPY source exists, is not git-ignored (so in a clean clone) and not .dockerignore'd")

    # Runtime: libpq5, non-root, listens on all interfaces, exec-form start, health check.
    run_runs = " ".join(rest for name, rest in run if name == "RUN")
    if "libpq5" not in run_runs:
        fail("Dockerfile: the runtime stage must install libpq5")
    users = [rest for name, rest in run if name == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        fail("Dockerfile: the runtime must end with a non-root USER")
    env = " ".join(rest for name, rest in run if name == "ENV")
    if "HERALD_HOST=0.0.0.0" not in env:
        fail("Dockerfile: HERALD_HOST=0.0.0.0 is needed in a container")
    for name in ("ENTRYPOINT", "CMD"):
        value = [rest for n, rest in run if n == name]
        if not value or not value[-1].startswith("["):
            fail(f"Dockerfile: {name} must be in exec form (JSON array), so SIGTERM reaches herald")
        json.loads(value[-1])
    if not any(name == "HEALTHCHECK" for name, _ in run):
        fail("Dockerfile: no HEALTHCHECK")
    if "HERALD_DATABASE_URL" not in text:
        fail("Dockerfile: must state that the image needs HERALD_DATABASE_URL")
    ok(f"runtime: libpq5, USER {users[-1]}, HERALD_HOST=0.0.0.0, exec-form ENTRYPOINT/CMD, HEALTHCHECK")


def nginx_blocks(conf):
    """{location: body} for the `location ... { ... }` blocks (they hold no braces)."""
    return {m.group(1).strip(): m.group(2) for m in re.finditer(r"location\s+([^{]+)\{([^{}]*)\}", conf)}


def directive(body, name):
    match = re.search(rf"^\s*{name}\s+([^;]*);", body, re.M)
    return match.group(1).strip() if match else None


def check_compose_and_nginx(root):
    import yaml  # only here: the live checks need no PyYAML

    folder = os.path.join(root, "docker")
    compose = yaml.safe_load(open(os.path.join(folder, "compose.yaml")))
    services = compose.get("services") or {}
    for name in ("postgres", "herald1", "herald2", "lb"):
        if name not in services:
            fail(f"compose.yaml: no service {name}")
        if "healthcheck" not in services[name] or not services[name]["healthcheck"].get("test"):
            fail(f"compose.yaml: {name} has no healthcheck")
    ok("compose.yaml parses: services postgres, herald1, herald2, lb, each with a healthcheck")

    pg_env = services["postgres"].get("environment") or {}
    if not str(pg_env.get("POSTGRES_PASSWORD", "")).startswith("${POSTGRES_PASSWORD:?"):
        fail("compose.yaml: POSTGRES_PASSWORD must come from a required variable, never a default")
    secrets = set()
    for name in ("herald1", "herald2"):
        service = services[name]
        env = service.get("environment") or {}
        if not isinstance(env, dict):
            fail(f"compose.yaml: {name}'s environment should be a mapping")
        build = service.get("build") or {}
        if not os.path.isfile(os.path.join(folder, build.get("context", "."), build.get("dockerfile", "Dockerfile"))):
            fail(f"compose.yaml: {name}'s build does not name docker/Dockerfile from the repository root")
        if "host=postgres" not in str(env.get("HERALD_DATABASE_URL", "")):
            fail(f"compose.yaml: {name}'s HERALD_DATABASE_URL does not point at the postgres service")
        if env.get("PGPASSWORD") != pg_env.get("POSTGRES_PASSWORD"):
            fail(f"compose.yaml: {name}'s PGPASSWORD is not the postgres service's password")
        if env.get("HERALD_HOST") != "0.0.0.0" or str(env.get("HERALD_PORT")) != "8080":
            fail(f"compose.yaml: {name} must listen on 0.0.0.0:8080")
        secret = str(env.get("HERALD_AUTH_SECRET", ""))
        if not secret.startswith("${HERALD_AUTH_SECRET:?"):
            fail(f"compose.yaml: {name}'s HERALD_AUTH_SECRET must come from a required variable")
        secrets.add(secret)
        if (service.get("depends_on") or {}).get("postgres", {}).get("condition") != "service_healthy":
            fail(f"compose.yaml: {name} must wait for a healthy postgres")
        if service.get("init") is not True:
            fail(f"compose.yaml: {name} needs init: true")
        if service.get("ports"):
            fail(f"compose.yaml: {name} should be reached through the load balancer only")
        grace = seconds(service.get("stop_grace_period", "10s"))
        shutdown = seconds(env.get("HERALD_SHUTDOWN_TIMEOUT", "10s"))
        if grace < shutdown + 5:
            fail(f"compose.yaml: {name}'s stop_grace_period {grace}s < HERALD_SHUTDOWN_TIMEOUT + 5 s")
    if len(secrets) != 1:
        fail("compose.yaml: herald1 and herald2 must share one HERALD_AUTH_SECRET")
    ok("herald1/herald2: same image and secret (required variable), db = postgres service, "
       "0.0.0.0:8080, init, stop_grace_period >= shutdown timeout + 5 s")

    lb = services["lb"]
    if not str(lb.get("image", "")).startswith("nginx"):
        fail("compose.yaml: lb is not nginx")
    mounts = [str(v) for v in lb.get("volumes") or []]
    if "./nginx.conf:/etc/nginx/nginx.conf:ro" not in mounts:
        fail("compose.yaml: lb must mount ./nginx.conf at /etc/nginx/nginx.conf")
    depends = lb.get("depends_on") or {}
    if any(depends.get(h, {}).get("condition") != "service_healthy" for h in ("herald1", "herald2")):
        fail("compose.yaml: lb must wait for healthy herald1 and herald2")
    published = [str(p).rsplit(":", 1)[-1] for p in lb.get("ports") or []]

    # nginx.conf against compose.yaml, and the settings streams need.
    conf = open(os.path.join(folder, "nginx.conf")).read()
    upstreams = {m.group(1): m.group(2) for m in re.finditer(r"upstream\s+(\w+)\s*\{([^{}]*)\}", conf)}
    for name, body in upstreams.items():
        servers = sorted(re.findall(r"^\s*server\s+([\w.-]+:\d+)\s*;", body, re.M))
        if servers != ["herald1:8080", "herald2:8080"]:
            fail(f"nginx.conf: upstream {name}'s servers {servers} are not herald1:8080 and herald2:8080")
    listen = directive(conf, "listen")
    if not listen or listen not in published:
        fail(f"nginx.conf: listens on {listen}, compose publishes {published}")
    ok(f"lb: nginx with ./nginx.conf, after healthy herald1/herald2; upstreams match the services; port {listen}")

    blocks = nginx_blocks(conf)
    for loc in ("/", "= /v1/sse", "= /v1/ws"):
        body = blocks.get(loc)
        if body is None:
            fail(f"nginx.conf: no location {loc}")
        if directive(body, "proxy_http_version") != "1.1":
            fail(f"nginx.conf: location {loc}: proxy_http_version 1.1 needed")
        if directive(body, "proxy_set_header Host") != "$http_host":
            fail(f"nginx.conf: location {loc}: proxy_set_header Host $http_host (the WebSocket Origin check)")
    sse, ws, rest = blocks["= /v1/sse"], blocks["= /v1/ws"], blocks["/"]
    for loc, body in blocks.items():
        target = directive(body, "proxy_pass")
        if target and target.removeprefix("http://") not in upstreams:
            fail(f"nginx.conf: location {loc} proxies to {target}, not one of the upstreams")
    # Herald upgrades only a connection's first request: no reused connections for /v1/ws.
    if "keepalive" in upstreams[directive(ws, "proxy_pass").removeprefix("http://")]:
        fail("nginx.conf: /v1/ws's upstream must not keep connections alive (an upgrade on a reused one gets 426)")
    if directive(sse, "proxy_buffering") != "off" or directive(sse, "proxy_cache") != "off":
        fail("nginx.conf: /v1/sse needs proxy_buffering off and proxy_cache off")
    if directive(sse, 'proxy_set_header Connection') != '""':
        fail('nginx.conf: /v1/sse needs proxy_set_header Connection ""')
    if directive(ws, "proxy_set_header Upgrade") != "$http_upgrade" or directive(ws, "proxy_set_header Connection") != "$connection_upgrade":
        fail("nginx.conf: /v1/ws needs the Upgrade and Connection headers")
    for loc, body, least in (("/v1/sse", sse, 3600), ("/v1/ws", ws, 3600), ("/", rest, 61)):
        timeout = seconds(directive(body, "proxy_read_timeout") or "60s")
        if timeout < least:
            fail(f"nginx.conf: {loc}'s proxy_read_timeout {timeout}s < {least}s")
    ok("nginx.conf: SSE unbuffered/uncached, WebSocket upgrade headers on fresh connections, Host passed, "
       "read timeouts 1h (SSE, WebSocket) and > 60 s (long-poll)")


# --- nginx-copy ----------------------------------------------------------------------


def nginx_copy(source, destination, port1, port2, lb_port):
    """nginx.conf with compose's host names replaced by loopback ports, exactly once each."""
    conf = open(source).read()
    upstreams = len(re.findall(r"^\s*upstream\s+\w+\s*\{", conf, re.M))
    for old, new, count in (
        ("server herald1:8080;", f"server 127.0.0.1:{port1};", upstreams),
        ("server herald2:8080;", f"server 127.0.0.1:{port2};", upstreams),
        ("listen 8080;", f"listen 127.0.0.1:{lb_port};", 1),
    ):
        if conf.count(old) != count:
            fail(f"nginx.conf: expected `{old}` {count} time(s)")
        conf = conf.replace(old, new)
    # Temporary files in the check's folder, not in the system's /var/lib/nginx.
    temp = os.path.join(os.path.dirname(os.path.abspath(destination)), "tmp")
    paths = "".join(f"\n    {kind}_temp_path {temp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    if conf.count("\nhttp {") != 1:
        fail("nginx.conf: expected one `http {` block")
    conf = conf.replace("\nhttp {", "\nhttp {" + paths)
    open(destination, "w").write(conf)


# --- live checks through the load balancer -------------------------------------------


# The token check.sh minted when Herald runs with an auth secret (else empty: anonymous).
TOKEN = os.environ.get("CHECK_TOKEN", "")


def auth_headers():
    return {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}


def auth_line():
    """The same, as a raw request's header line."""
    return f"Authorization: Bearer {TOKEN}\r\n" if TOKEN else ""


def publish(port, topic, data):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"data": data})
    connection.request("POST", f"/v1/topics/{topic}/notifications", body,
                       {"Content-Type": "application/json", **auth_headers()})
    response = connection.getresponse()
    answer = response.read()
    if response.status != 201:
        fail(f"publish through the load balancer: {response.status} {answer[:200]!r}")
    connection.close()


def open_stream(port, request):
    """A socket that sent `request`; returns (socket, status line, bytes after the head)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request.encode())
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(4096)
        if not chunk:
            fail(f"the load balancer closed the connection before answering: {buffer[:200]!r}")
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    return sock, head.decode("latin-1"), rest


def read_until(sock, buffer, marker, deadline):
    """Reads until `marker` is in `buffer` or `deadline` (time.monotonic) passes."""
    while marker not in buffer:
        left = deadline - time.monotonic()
        if left <= 0:
            return buffer, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            return buffer, False
        if not chunk:
            return buffer, False
        buffer += chunk
    return buffer, True


def check_sse(lb_port):
    """Two SSE streams through the load balancer (least_conn puts them on both instances);
    a notification published while they are open reaches both within a second."""
    topic = "dockercheck-sse-" + uuid.uuid4().hex[:8]
    streams = []
    for _ in range(2):
        sock, head, rest = open_stream(
            lb_port,
            f"GET /v1/sse?topics={topic} HTTP/1.1\r\nHost: 127.0.0.1:{lb_port}\r\n"
            f"Accept: text/event-stream\r\n{auth_line()}\r\n",
        )
        if " 200 " not in head.split("\r\n")[0] or "text/event-stream" not in head.lower():
            fail(f"SSE through the load balancer: {head.splitlines()[0]}")
        # The stream's first line (`retry: 1000`) must arrive before any event does.
        rest, seen = read_until(sock, rest, b"retry:", time.monotonic() + 5)
        if not seen:
            fail(f"SSE: the stream's first line did not come through within 5 s (buffered?): {rest[:200]!r}")
        streams.append([sock, rest])
    marker = uuid.uuid4().hex
    started = time.monotonic()
    publish(lb_port, topic, marker)
    for stream in streams:
        stream[1], seen = read_until(stream[0], stream[1], marker.encode(), started + 2.0)
        if not seen:
            fail(f"SSE: a notification published while the stream was open did not arrive within 2 s "
                 f"(buffered by the proxy?); got {stream[1][-300:]!r}")
        stream[0].close()
    ok(f"SSE: two streams through nginx got a notification {1000 * (time.monotonic() - started):.0f} ms "
       "after its publish")


def ws_frame(text):
    """A masked text frame (clients must mask)."""
    payload = text.encode()
    mask = os.urandom(4)
    header = bytes([0x81])
    if len(payload) < 126:
        header += bytes([0x80 | len(payload)])
    else:
        header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def ws_read(sock, buffer, deadline):
    """One server frame: (opcode, payload, rest of the buffer)."""
    def need(count):
        nonlocal buffer
        while len(buffer) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("WebSocket: no frame in time")
            sock.settimeout(left)
            chunk = sock.recv(4096)
            if not chunk:
                fail("WebSocket: connection closed")
            buffer += chunk
    need(2)
    opcode, length = buffer[0] & 0x0F, buffer[1] & 0x7F
    offset = 2
    if length == 126:
        need(4)
        length, offset = int.from_bytes(buffer[2:4], "big"), 4
    elif length == 127:
        need(10)
        length, offset = int.from_bytes(buffer[2:10], "big"), 10
    need(offset + length)
    return opcode, buffer[offset:offset + length], buffer[offset + length:]


def ws_message(sock, buffer, deadline, wanted):
    """The next text message whose type is `wanted` (pings and other types skipped)."""
    while True:
        opcode, payload, buffer = ws_read(sock, buffer, deadline)
        if opcode == 0x8:
            fail(f"WebSocket: closed by the server: {payload!r}")
        if opcode == 0x1:
            message = json.loads(payload)
            if message.get("type") == wanted:
                return message, buffer


WS_KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455's example key


def ws_upgrade(lb_port, path, origin):
    return open_stream(
        lb_port,
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{lb_port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {WS_KEY}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {origin}\r\n{auth_line()}\r\n",
    )


def check_ws(lb_port):
    topic = "dockercheck-ws-" + uuid.uuid4().hex[:8]
    # Plain requests first, which leave idle keep-alive connections from nginx to both
    # instances: an upgrade sent on one of those would get 426 (Herald upgrades only a
    # connection's first request), so every upgrade below must still get 101.
    for _ in range(4):
        connection = http.client.HTTPConnection("127.0.0.1", lb_port, timeout=10)
        connection.request("GET", "/healthz")
        connection.getresponse().read()
        connection.close()
    accept = base64.b64encode(hashlib.sha1((WS_KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    deadline = time.monotonic() + 5
    sockets = []
    for _ in range(4):
        # The page's own origin: Herald compares it with the Host nginx passed on.
        sock, head, buffer = ws_upgrade(lb_port, f"/v1/ws?topics={topic}", f"http://127.0.0.1:{lb_port}")
        status = head.split("\r\n")[0]
        if " 101 " not in status:
            fail(f"WebSocket upgrade through the load balancer: {status} (Host passed on unchanged? "
                 "an upgrade sent on a reused upstream connection?)")
        if f"sec-websocket-accept: {accept.decode()}".lower() not in head.lower():
            fail("WebSocket: wrong or missing Sec-WebSocket-Accept")
        _, buffer = ws_message(sock, buffer, deadline, "subscribed")
        sockets.append([sock, buffer])
    marker = uuid.uuid4().hex
    publish(lb_port, topic, marker)
    for entry in sockets:
        message, entry[1] = ws_message(entry[0], entry[1], deadline, "notification")
        if message["notification"]["data"] != marker:
            fail(f"WebSocket: unexpected notification {message}")
    sock, buffer = sockets[0]
    sock.sendall(ws_frame('{"type":"ping"}'))
    ws_message(sock, buffer, deadline, "pong")
    for sock, _ in sockets:
        sock.sendall(bytes([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]))  # close 1000 (masked with zeros)
        sock.close()
    ok("WebSocket: 4 upgrades through nginx (after plain requests) got 101 with the page's own "
       "Origin; subscribed, a notification on each, ping/pong")

    # Another origin's page is refused: the Origin check is really made behind the proxy.
    sock, head, _ = ws_upgrade(lb_port, f"/v1/ws?topics={topic}", "http://elsewhere.example")
    sock.close()
    if " 403 " not in head.split("\r\n")[0]:
        fail(f"WebSocket from another origin through the load balancer: {head.splitlines()[0]}, expected 403")
    ok("WebSocket: another origin's page gets 403")


def check_poll(lb_port):
    topic = "dockercheck-poll-" + uuid.uuid4().hex[:8]
    connection = http.client.HTTPConnection("127.0.0.1", lb_port, timeout=15)
    started = time.monotonic()
    connection.request("GET", f"/v1/poll?topics={topic}&wait=3", headers=auth_headers())
    response = connection.getresponse()
    body = response.read()
    took = time.monotonic() - started
    if response.status != 200 or json.loads(body).get("notifications") != []:
        fail(f"long-poll through the load balancer: {response.status} after {took:.1f} s: {body[:200]!r}")
    if not 2.5 <= took <= 8:
        fail(f"long-poll with wait=3 answered after {took:.1f} s")
    ok(f"long-poll wait=3 through nginx: 200, empty, after {took:.1f} s")


def check_unauthorized(lb_port):
    """With an auth secret: no token, no publish and no stream (401), through nginx."""
    for method, path in (("POST", "/v1/topics/dockercheck/notifications"), ("GET", "/v1/sse?topics=dockercheck")):
        connection = http.client.HTTPConnection("127.0.0.1", lb_port, timeout=10)
        connection.request(method, path, "x" if method == "POST" else None)
        response = connection.getresponse()
        response.read()
        connection.close()
        if response.status != 401:
            fail(f"{method} {path} without a token through the load balancer: {response.status}, expected 401")
    ok("without a token: publish and SSE get 401; with the one token (minted once): everything above, on both instances")


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    if command == "static":
        check_dockerfile(arguments[0])
        check_compose_and_nginx(arguments[0])
    elif command == "nginx-copy":
        nginx_copy(*arguments)
    elif command == "sse":
        check_sse(int(arguments[0]))
    elif command == "ws":
        check_ws(int(arguments[0]))
    elif command == "poll":
        check_poll(int(arguments[0]))
    elif command == "unauthorized":
        check_unauthorized(int(arguments[0]))
    else:
        fail(f"unknown command {command}")
