"""`herald serve` for the test suites run from Python (Tests/fuzz, Tests/browser).

run.sh puts this folder on PYTHONPATH (Tests/support/python-deps.sh).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


class ServerError(RuntimeError):
    """The server did not start, or did not stop as it must (SIGTERM: status 0)."""


class Server:
    """`herald serve` on a loopback port with its private PostgreSQL in `folder/data`.

    The first start picks a free port; `restart()` stops it and starts it again on the same
    port and data folder, as an operator's restart does."""

    def __init__(self, name: str, binary: str, folder: Path, flags: list[str] | None = None) -> None:
        self.name = name
        self.binary = binary
        self.flags = flags or []
        self.data_dir = folder / "data"
        self.log_path = folder / "server.log"
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.exit_statuses: list[int | None] = []  # of every stop, in order
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_within: float = 60) -> None:
        # No HERALD_* setting of the caller (a HERALD_DATABASE_URL above all) reaches the server.
        env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        fixed = self.port != 0
        deadline_for_port = time.monotonic() + 15
        attempt = 0
        while True:
            attempt += 1
            if not fixed:
                self.port = free_port()
            command = [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir), *self.flags]
            with open(self.log_path, "ab") as output:
                output.write(f"--- {time.strftime('%H:%M:%S')} {' '.join(command)}\n".encode())
                output.flush()
                self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            deadline = time.monotonic() + ready_within
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    with urllib.request.urlopen(f"{self.base_url}/readyz", timeout=2) as answer:
                        if answer.status == 200:
                            return
                except (urllib.error.URLError, OSError):
                    pass
                time.sleep(0.1)
            if self.process.poll() is None:
                self.stop()
                raise RuntimeError(f"server {self.name}: /readyz was not 200 within {ready_within:.0f} s")
            taken = "address already in use" in self.log_path.read_text(errors="replace").lower()
            if not taken:
                raise RuntimeError(f"server {self.name}: herald serve exited with status {self.process.returncode} before it was ready")
            if fixed and time.monotonic() < deadline_for_port:
                time.sleep(0.5)  # a restart on the same port: wait for it to come free
            elif not fixed and attempt < 3:
                print(f"server {self.name}: the port was taken meanwhile; trying another", flush=True)
            else:
                raise RuntimeError(f"server {self.name}: port {self.port} stayed taken")

    def stop(self, within: float = 30) -> int | None:
        """SIGTERM; the exit status, or None when it had to be killed."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=within)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            self.stop_orphaned_postgres()
            status = None
        self.exit_statuses.append(status)
        return status

    def restart(self) -> None:
        """Stops (SIGTERM, which must end it with status 0) and starts again, same port and data."""
        began = time.monotonic()
        status = self.stop()
        took = time.monotonic() - began
        self.start()  # again even after a bad stop, so that later tests have their server
        if status != 0:
            raise ServerError(
                f"server {self.name}: herald serve exited with status {status} {took:.1f} s after SIGTERM (expected 0)"
                if status is not None
                else f"server {self.name}: herald serve did not exit within 30 s of SIGTERM and was killed"
            )

    def stop_orphaned_postgres(self) -> None:
        """After a kill, the embedded PostgreSQL may be left running: stop it (immediate shutdown)."""
        try:
            pid = int((self.data_dir / "pgdata" / "postmaster.pid").read_text().split("\n")[0])
            os.kill(pid, signal.SIGQUIT)
        except (OSError, ValueError, IndexError):
            pass

    def log_tail(self, lines: int = 15, notable: int = 20) -> str:
        """The log's warnings and errors (the last `notable` of them), then its last `lines` lines."""
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        marked = [line for line in text[:-lines] if re.match(r"^\S+ (warning|error|critical) ", line)]
        return "\n".join(marked[-notable:] + text[-lines:])

    def psql(self, sql: str) -> str:
        """Runs `sql` on the private PostgreSQL (through its socket, as `postgres`) and returns the output."""
        fields = (self.data_dir / "pgdata" / "postmaster.pid").read_text().split("\n")
        port, socket_dir = fields[3].strip(), fields[4].strip()
        psql = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), reverse=True)), None)
        if psql is None:
            raise RuntimeError("psql is missing (apt-get install postgresql-client)")
        answer = subprocess.run(
            [psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, f"host={socket_dir} port={port} user=postgres dbname=postgres"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if answer.returncode != 0:
            raise RuntimeError(f"psql failed: {answer.stderr.strip()}")
        return answer.stdout


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
