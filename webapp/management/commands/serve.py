"""Start one Celery worker and the web server together; Ctrl-C stops both.

The web server is gunicorn (a production WSGI server: one process, ``--threads``
threads; static files by WhiteNoise, collected and compressed first), never
Django's development server.

Each child runs in its own process group, so stopping kills the whole group
(worker pool processes included) and leaves no orphan behind.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and one Celery worker (make run)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--concurrency", type=int, default=1, help="worker processes of the Celery worker")
        parser.add_argument("--threads", type=int, default=int(os.environ.get("FRONTIER_WEB_THREADS", 8)),
                            help="threads of the web server (one process: the sign-in throttle counts in it)")

    def handle(self, *args, port: int, host: str, concurrency: int, threads: int, **opts):
        if not 1 <= port <= 65535:
            self.stderr.write("--port must be 1..65535")
            sys.exit(2)
        if not 1 <= concurrency <= 64:
            self.stderr.write("--concurrency must be 1..64")
            sys.exit(2)
        if not 1 <= threads <= 256:
            self.stderr.write("--threads must be 1..256")
            sys.exit(2)
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)
        py = sys.executable
        worker = [py, "-m", "celery", "-A", "tasks.celery", "worker", "-l", "INFO", "--concurrency", str(concurrency),
                  "-Q", settings.CELERY_TASK_DEFAULT_QUEUE, "-n", "frontier@%h", "--without-gossip", "--without-mingle"]
        web = web_command(host=host, port=port, threads=threads)
        broker = "Redis " + settings.CELERY_BROKER_URL if settings.REDIS_URL else "filesystem broker under var/broker"
        db = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        self.stdout.write(f"Frontier: http://{host}:{port}/  (gunicorn, {threads} threads; database: {db}; "
                          f"broker: {broker}; DEBUG {'on' if settings.DEBUG else 'off'}). Ctrl-C stops.")
        procs = [subprocess.Popen(worker, start_new_session=True), subprocess.Popen(web, start_new_session=True)]
        stop = {"now": False}

        def on_signal(signum, frame):
            stop["now"] = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        code = 0
        try:
            while not stop["now"]:
                for p in procs:
                    if p.poll() is not None:
                        self.stderr.write(f"{' '.join(p.args[:4])} exited with {p.returncode}; stopping.")
                        stop["now"], code = True, 1
                time.sleep(0.3)
        finally:
            self.stdout.write("Stopping the worker and the web server…")
            # SIGQUIT: Celery's cold shutdown (does not wait for a running job; the
            # job is marked failed with its reason when a worker starts again).
            for p, sig in zip(procs, (signal.SIGQUIT, signal.SIGTERM)):
                _signal_group(p, sig)
            deadline = time.monotonic() + 10
            for p in procs:
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
                _signal_group(p, signal.SIGKILL)
        sys.exit(code)


def web_command(*, host: str, port: int, threads: int = 8) -> list[str]:
    """gunicorn serving the project's WSGI application: one process with ``threads`` threads."""
    return [sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind", f"{host}:{port}",
            "--workers", "1", "--threads", str(threads), "--worker-class", "gthread", "--timeout", "120",
            "--graceful-timeout", "10", "--access-logfile", "-", "--forwarded-allow-ips",
            os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")]


def _signal_group(p: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
