"""Real service processes that the fault bench (bench/faults.py) and the fault
tests (tests/webapp/test_faults.py) start, kill and restart: a ``redis-server``
and a PostgreSQL cluster of their own on spare ports (never the machine's shared
ones), and Celery workers. Each runs in its own process group; stopping kills the
group and nothing is left behind."""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

__all__ = ["free_port", "RedisServer", "PgCluster", "start_worker", "stop_group", "wait_for", "pg_bin"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(predicate, *, timeout: float, interval: float = 0.2, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def stop_group(proc: subprocess.Popen | None, sig: int = signal.SIGKILL, *, timeout: float = 30) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


class RedisServer:
    """A ``redis-server`` on a spare port that keeps nothing on disk (as the
    machine's does): a restart forgets every queued message."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        if self.port == 6379:
            raise ValueError("never the shared Redis port")
        self.dir = tempfile.mkdtemp(prefix="frontier-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        exe = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen([exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: _listening(self.port), timeout=20, what=f"redis-server on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL: what a crash or an out-of-memory kill does."""
        stop_group(self.proc, signal.SIGKILL)
        wait_for(lambda: not _listening(self.port), timeout=10, what="redis-server to stop")

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        stop_group(self.proc, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)


def pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not hits:
        raise FileNotFoundError(f"{name} not found (install postgresql)")
    return hits[-1]


class PgCluster:
    """A PostgreSQL cluster of its own: ``initdb`` into a temporary folder,
    ``pg_ctl`` on a spare port, trust authentication on 127.0.0.1 only."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        if self.port == 5432:
            raise ValueError("never the shared PostgreSQL port")
        self.dir = Path(tempfile.mkdtemp(prefix="frontier-pg-"))
        self.data = self.dir / "data"
        self.user = "frontier"
        # PostgreSQL refuses to run as root: then the cluster belongs to the system's postgres user
        self._as_owner: list[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                owner = pwd.getpwnam("postgres")
            except KeyError as e:
                raise RuntimeError("running as root needs a 'postgres' system user to own the cluster") from e
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
            self._as_owner = [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"]

    def url(self, db: str = "frontier") -> str:
        return f"postgres://{self.user}@127.0.0.1:{self.port}/{db}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        out = subprocess.run(self._as_owner + list(args), capture_output=True, text=True, timeout=timeout)
        if out.returncode:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {out.stderr[-2000:]}")

    def init(self) -> "PgCluster":
        self._run(pg_bin("initdb"), "-D", str(self.data), "-U", self.user, "-A", "trust", "--no-sync", "-E", "UTF8")
        return self

    def start(self) -> "PgCluster":
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
                f"-c max_connections=100 -c shared_buffers=32MB")
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-l", str(self.dir / "log"), "-w",
                  "-t", "60", "start")
        return self

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: no clean shutdown, every connection cut (a crash)."""
        self._run(pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def createdb(self, name: str) -> None:
        self._run(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)

    def close(self) -> None:
        try:
            self.stop()
        except Exception:  # already stopped
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def start_worker(*, env: dict[str, str], name: str = "w", log_path: Path | None = None, queue: str = "frontier",
                 concurrency: int = 1) -> subprocess.Popen:
    """A real ``celery worker`` process (its own process group) with ``env``
    (DATABASE_URL, REDIS_URL, …) over this process's environment."""
    full = dict(os.environ, PYTHONUNBUFFERED="1", **env)
    log = open(log_path or os.devnull, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks.celery", "worker", "-l", "INFO", "--concurrency",
             str(concurrency), "-Q", queue, "-n", f"{name}@%h", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=full, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()


@contextmanager
def worker(**kwargs):
    proc = start_worker(**kwargs)
    try:
        yield proc
    finally:
        stop_group(proc)
