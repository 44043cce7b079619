"""Load on loopback: 20 and 50 concurrent users on the dashboard and on an
experiment page holding 100,000 candidates, against the same pages served the
old way, in the same run.

Two servers, up at the same time, read one throw-away database (SQLite under a temp folder, or a
test database beside DATABASE_URL's): this tree, and the tree of
``--baseline-rev`` (default: the last commit before the thinned, cached plot
data; ``git archive`` into a temp folder). Both run under the same WSGI
server: gunicorn (gthread: 2 workers x 4 threads) when it is installed, else
Django's threaded development server (said in the output). The client is a
small asyncio program (aiohttp) in this process, so client and servers share
the machine's cores; each run on one server is followed by the same run on the
other, so a change in the machine's load falls on both alike.

Each simulated user signs in (a session cookie) and repeats its visit until the
scenario's request budget or time is spent: ``dashboard`` is ``GET /``;
``experiment_100k`` is what the experiment page fetches: the page, its plot
data and the first page of its candidate table. Printed per server, scenario
and number of users: requests/s (answered), p50/p95/p99 latency (a failed or
timed-out request counted at the time it took to fail), 5xx and failed requests.
The experiment's candidates are generated (log-normal latencies; not measured):
a load for the pages, not a result.

Last line: one JSON object (``rps_dashboard``, ``p95_dashboard_ms``,
``rps_experiment_100k``, ``p95_experiment_100k_ms`` at 50 users, this tree;
``*_old`` the baseline; ``server_errors``: 5xx answered by this tree).

    python bench/load.py [--quick] [--users 20,50] [--seconds 20] [--baseline-rev REV]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

#: the last commit whose experiment page sent every point as JSON, built on every request
BASELINE_REV = "fb4f367"
SECRET = "bench-load-secret-key-not-for-production-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(port: int) -> tuple[list[str], str]:
    try:
        import gunicorn  # noqa: F401

        return ([sys.executable, "-m", "gunicorn", "webapp.wsgi:application", "--bind", f"127.0.0.1:{port}",
                 "--workers", "2", "--threads", "4", "--worker-class", "gthread", "--timeout", "120", "--preload",
                 "--log-level", "warning"], "gunicorn (gthread, 2 workers x 4 threads)")
    except ImportError:
        return ([sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
                "Django's threaded development server (gunicorn is not installed)")


class Server:
    """One WSGI server on a free loopback port, code from ``tree``; stopped (its process group) on exit."""

    def __init__(self, tree: Path, env: dict[str, str], log: Path):
        self.port = free_port()
        self.cmd, self.kind = server_command(self.port)
        self.tree, self.env, self.log = tree, env, log
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen(self.cmd, cwd=self.tree, env=self.env, stdout=self.logf, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({self.proc.returncode}); see {self.log}:\n"
                                   + self.log.read_text(errors="replace")[-2000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the server did not start in 90 s; see {self.log}")

    def cpu_ticks(self) -> int:
        """CPU time (clock ticks) of the server's processes so far (Linux /proc)."""
        total = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                f = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(f[2]) == self.proc.pid:  # process group: the master and its workers
                total += int(f[11]) + int(f[12])
        return total

    def wait_idle(self, *, limit: float = 180.0) -> None:
        """Until the server has finished the work its clients gave up on (timed out requests
        still run), so it takes no core from the next run."""
        end = time.monotonic() + limit
        last = self.cpu_ticks()
        while time.monotonic() < end:
            time.sleep(0.5)
            now = self.cpu_ticks()
            if now - last <= 5:  # under 10 % of a core for half a second
                return
            last = now

    def __exit__(self, *exc):
        import signal

        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.logf.close()


async def run_load(base: str, cookie: str, paths: list[str], *, users: int, seconds: float, max_requests: int,
                   timeout: float) -> dict:
    """``users`` coroutines, each fetching ``paths`` in turn (one visit) until the
    budget of requests or seconds is spent. Latency per request, from send to the last byte."""
    import aiohttp

    lat: list[float] = []
    status: dict[int, int] = {}
    failed = 0
    sent = 0
    t_end = time.perf_counter() + seconds
    conn = aiohttp.TCPConnector(limit=users, force_close=False)
    async with aiohttp.ClientSession(base, connector=conn, cookies={"sessionid": cookie},
                                     timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        async def user() -> None:
            nonlocal failed, sent
            while time.perf_counter() < t_end and sent < max_requests:
                for p in paths:
                    if sent >= max_requests:
                        return
                    sent += 1
                    t0 = time.perf_counter()
                    try:
                        async with http.get(p, allow_redirects=False) as r:
                            await r.read()
                            status[r.status] = status.get(r.status, 0) + 1
                            lat.append((time.perf_counter() - t0) * 1000)
                    except (aiohttp.ClientError, asyncio.TimeoutError):
                        failed += 1  # counted in the percentiles at the time it took to fail
                        lat.append((time.perf_counter() - t0) * 1000)

        t0 = time.perf_counter()
        await asyncio.gather(*(user() for _ in range(users)))
        wall = time.perf_counter() - t0
    from dashboard import percentile

    done = len(lat) - failed
    return {"requests": len(lat), "seconds": round(wall, 2), "rps": round(done / wall, 2) if wall else 0.0,
            "p50_ms": round(percentile(lat, 50), 1), "p95_ms": round(percentile(lat, 95), 1),
            "p99_ms": round(percentile(lat, 99), 1), "status": dict(sorted(status.items())),
            "server_errors": sum(v for k, v in status.items() if k >= 500), "failed": failed}


def baseline_tree(rev: str, dest: Path) -> Path | None:
    """The files of ``rev`` (git archive), or None when git or the revision is missing."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    dest.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="10 s and 400 requests per run, 30 s per request (default 30 s, 3,000, 60 s)")
    ap.add_argument("--users", default="20,50", help="concurrent users, comma-separated (1 to 200 each)")
    ap.add_argument("--seconds", type=float, default=None, help="time budget per run (2 to 300)")
    ap.add_argument("--requests", type=int, default=None, help="request budget per run (10 to 100,000)")
    ap.add_argument("--candidates", type=int, default=100_000, help="candidates of the experiment (1,000 to 1,000,000)")
    ap.add_argument("--only", choices=["dashboard", "experiment_100k"], default=None, help="one scenario")
    ap.add_argument("--old-first", action="store_true", help="run the old tree first in each pair")
    ap.add_argument("--baseline-rev", default=BASELINE_REV, help="git revision served as the old way ('' to skip)")
    args = ap.parse_args()
    try:
        levels = [int(u) for u in args.users.split(",") if u.strip()]
    except ValueError:
        ap.error("--users takes integers, e.g. 20,50")
    if not levels or any(not 1 <= u <= 200 for u in levels):
        ap.error("--users: each from 1 to 200")
    seconds = args.seconds if args.seconds is not None else (10.0 if args.quick else 30.0)
    budget = args.requests if args.requests is not None else (400 if args.quick else 3000)
    timeout = 30.0 if args.quick else max(60.0, seconds * 2)  # a request's limit; slower ones count as failed
    if not 2 <= seconds <= 300:
        ap.error("--seconds must be from 2 to 300")
    if not 10 <= budget <= 100_000:
        ap.error("--requests must be from 10 to 100,000")
    if not 1_000 <= args.candidates <= 1_000_000:
        ap.error("--candidates must be from 1,000 to 1,000,000")

    tmp = Path(tempfile.mkdtemp(prefix="frontier-load-"))
    os.environ.update(SECRET_KEY=SECRET, DEBUG="0", FRONTIER_VAR_DIR=str(tmp / "var"), SECURE_SSL_REDIRECT="0",
                      ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="WARNING")
    from dashboard import build_experiment, session_cookie, setup_django

    setup_django(str(tmp / "var"))
    from django.conf import settings

    from webapp.models import Candidate, Experiment, HardwareProfile

    exp, user, insert_s, _, _, _ = build_experiment(args.candidates)
    # the dashboard's lists: 40 finished experiments of a few candidates each
    hw = HardwareProfile.objects.get(slug="local-cpu")
    for k in range(40):
        e = Experiment.objects.create(owner=user, technique="model-zoo", hardware=hw, status="succeeded",
                                      name=f"small {k}", config={}, candidate_count=5,
                                      metric_keys={"latency_ms": "number", "accuracy": "number"})
        Candidate.objects.bulk_create([Candidate(experiment=e, index=i, architecture={"w": i},
                                                 metrics={"latency_ms": 1.0 + i, "accuracy": 0.5 + i / 20})
                                       for i in range(5)])
    cookie = session_cookie(user)
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    if "DATABASE_URL" in os.environ:  # the servers read the bench's test database
        from urllib.parse import urlsplit, urlunsplit

        u = urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urlunsplit(u._replace(path="/" + str(db["NAME"])))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PYTHONPATH"] = ""
    from django.db import connections

    connections.close_all()

    scenarios = {"dashboard": ["/"],
                 "experiment_100k": [f"/experiments/{exp.pk}/", f"/experiments/{exp.pk}/plot.json",
                                     f"/experiments/{exp.pk}/candidates/"]}
    if args.only:
        scenarios = {args.only: scenarios[args.only]}
    trees = [("new", ROOT)]
    old_note = ""
    if args.baseline_rev:
        old = baseline_tree(args.baseline_rev, tmp / "baseline")
        if old is None:
            old_note = f"baseline {args.baseline_rev!r} not found (git archive failed): old way not measured"
        else:
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(old)], check=False)  # as the new tree has
            trees.append(("old", old))
    results: dict[str, dict] = {}
    from contextlib import ExitStack

    with ExitStack() as stack:  # both servers up at once; each run of one is followed by the same run of the other
        servers = {label: stack.enter_context(Server(tree, env, tmp / f"server-{label}.log")) for label, tree in trees}
        kind = servers["new"].kind
        for name, paths in scenarios.items():
            for srv in servers.values():
                # a few visits first, on every worker: templates compiled (for the new tree, the plot data built)
                asyncio.run(run_load(srv.url, cookie, paths, users=4, seconds=120, max_requests=8 * len(paths),
                                     timeout=120))
                srv.wait_idle()
            for users in levels:
                for label, srv in (reversed(servers.items()) if args.old_first else servers.items()):
                    r = asyncio.run(run_load(srv.url, cookie, paths, users=users, seconds=seconds,
                                             max_requests=budget, timeout=timeout))
                    results[f"{label}/{name}/{users}"] = r
                    srv.wait_idle()
                    print(f"{label:>3} {name:<16} {users:>3} users: {r['rps']:>8.1f} req/s  p50 {r['p50_ms']:>8.1f} ms"
                          f"  p95 {r['p95_ms']:>8.1f} ms  p99 {r['p99_ms']:>8.1f} ms  {r['requests']} requests,"
                          f" 5xx {r['server_errors']}, failed {r['failed']}, status {r['status']}", flush=True)
    top = max(levels)
    figures: dict[str, object] = {"server": kind, "database": db["ENGINE"].rsplit(".", 1)[-1],
                                  "candidates": args.candidates, "users": levels, "seconds_per_run": seconds,
                                  "requests_per_run": budget, "baseline_rev": args.baseline_rev or None}
    for name in scenarios:
        for label, suffix in (("new", ""), ("old", "_old")):
            r = results.get(f"{label}/{name}/{top}")
            if r is not None:
                figures[f"rps_{name}{suffix}"] = r["rps"]
                figures[f"p95_{name}{suffix}_ms"] = r["p95_ms"]
                figures[f"p99_{name}{suffix}_ms"] = r["p99_ms"]
            for users in levels:
                r = results.get(f"{label}/{name}/{users}")
                if r is not None:
                    figures[f"rps_{name}_{users}u{suffix}"] = r["rps"]
                    figures[f"p95_{name}_{users}u{suffix}_ms"] = r["p95_ms"]
    figures["server_errors"] = sum(r["server_errors"] for k, r in results.items() if k.startswith("new/"))
    figures["failed_requests"] = sum(r["failed"] for k, r in results.items() if k.startswith("new/"))
    if any(k.startswith("old/") for k in results):
        figures["server_errors_old"] = sum(r["server_errors"] for k, r in results.items() if k.startswith("old/"))
        figures["failed_requests_old"] = sum(r["failed"] for k, r in results.items() if k.startswith("old/"))
        if figures.get("rps_experiment_100k_old"):
            figures["experiment_100k_rps_ratio"] = round(figures["rps_experiment_100k"]
                                                         / figures["rps_experiment_100k_old"], 1)
    if old_note:
        figures["note"] = old_note
    shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
