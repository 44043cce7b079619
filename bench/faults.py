"""Faults: jobs launched through the real web server while the broker is down,
the broker (Redis, nothing on disk) restarted with jobs waiting, a worker
SIGKILLed mid-job and PostgreSQL stopped hard mid-job, counting the jobs
completed, lost and duplicated and the launches answered with a 5xx.

Everything runs on services of its own: a PostgreSQL cluster (``initdb`` into a
temporary folder, ``pg_ctl`` on a spare port), a ``redis-server`` on a spare
port, the web server (``manage.py runserver``: it runs the reconciler, as every
web server does) and real ``celery worker`` processes; nothing touches the
machine's shared Redis or PostgreSQL.

The baseline beside it, in the same process: the same broker-restart scenario
with the reconciler switched off in the web server and the worker
(``FRONTIER_RECONCILE_S=0``: the launch path as it was, send on commit and
nothing after), whose waiting jobs the restart loses.

    OMP_NUM_THREADS=1 .venv/bin/python bench/faults.py            # 8 jobs a scenario
    OMP_NUM_THREADS=1 .venv/bin/python bench/faults.py --quick    # 3 jobs a scenario (a few minutes)

The last line printed is one JSON object of the figures (``jobs_completed``,
``jobs_lost``, ``jobs_duplicated``, ``server_errors`` and the per-scenario counts).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support.procs import PgCluster, RedisServer, free_port, start_worker, stop_group, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SMOKE_ZOO = {"models": ["squeezenet1_1"], "widths": [1.0], "resolutions": [32], "train_epochs": 0,
             "latency_repeats": 2, "latency_warmup": 1}
#: a network per resolution, a second or two each: long enough to break something mid-way
MID_ZOO = {"models": ["squeezenet1_1"], "widths": [1.0], "resolutions": [32, 64, 96, 128, 160, 192, 224],
           "train_epochs": 0, "latency_repeats": 5, "latency_warmup": 1}
MID_RUN = len(MID_ZOO["resolutions"])


class Bench:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.pg = PgCluster().init().start()
        self.pg.createdb("frontier")
        self.redis = RedisServer().start()
        self.env = {"DATABASE_URL": self.pg.url(), "REDIS_URL": self.redis.url, "FRONTIER_VAR_DIR": str(tmp / "var"),
                    "FRONTIER_MEDIA_ROOT": str(tmp / "media"), "FRONTIER_CACHE_DIR": str(tmp / "cache"),
                    "FRONTIER_RECONCILE_S": "0.5", "FRONTIER_HEARTBEAT_STALE_S": "6", "FRONTIER_MAX_ATTEMPTS": "3",
                    "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        os.environ.update(self.env)
        os.environ["FRONTIER_RECONCILE_S"] = "0"  # this process only reads and counts
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        from django.contrib.auth import get_user_model
        from rest_framework.authtoken.models import Token

        from webapp import services

        services.hardware_profiles_sync_builtin()
        user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
        self.token = Token.objects.create(user=user).key
        self.web = self.worker = None
        self.port = free_port()
        self.workers = 0

    # -- processes -----------------------------------------------------------------
    def start_web(self, **extra: str) -> None:
        env = {**os.environ, **self.env, **extra, "PYTHONUNBUFFERED": "1"}
        log = open(self.tmp / "web.log", "ab")
        self.web = subprocess.Popen([sys.executable, "manage.py", "runserver", f"127.0.0.1:{self.port}", "--noreload"],
                                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        wait_for(lambda: self._up(), timeout=90, interval=0.5, what="the web server")

    def _up(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/login/", timeout=2).read()
            return True
        except urllib.error.HTTPError:  # it answers
            return True
        except (urllib.error.URLError, OSError):
            return False

    def start_worker(self, **extra: str) -> None:
        self.workers += 1
        self.worker = start_worker(env={**self.env, **extra}, name=f"bench{self.workers}",
                                   log_path=self.tmp / f"worker{self.workers}.log")

    def stop_all(self) -> None:
        stop_group(self.worker)
        stop_group(self.web, signal.SIGTERM)

    def close(self) -> None:
        self.stop_all()
        self.redis.close()
        self.pg.close()

    # -- the API -------------------------------------------------------------------
    def launch(self, config: dict, name: str) -> tuple[int, dict, float]:
        body = json.dumps({"technique": "model-zoo", "hardware": "local-cpu", "config": config, "name": name}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/experiments/", data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Token {self.token}"})
        t0 = time.perf_counter()
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read()), time.perf_counter() - t0
        except urllib.error.HTTPError as e:
            return e.code, {}, time.perf_counter() - t0
        except (urllib.error.URLError, OSError):
            return 599, {}, time.perf_counter() - t0  # no answer at all counts as a server error

    # -- counting ------------------------------------------------------------------
    @staticmethod
    def rows(ids):
        from django.db import close_old_connections

        from webapp.models import Experiment

        close_old_connections()
        return list(Experiment.objects.filter(pk__in=ids))

    def done(self, ids) -> bool:
        from webapp.models import Experiment

        try:
            return all(e.status not in Experiment.ACTIVE for e in self.rows(ids))
        except Exception:  # the database is restarting
            from django.db import connection

            connection.close()
            return False

    def tally(self, ids, per_run: int) -> dict[str, int]:
        rows = self.rows(ids)
        done = [e for e in rows if e.status == "succeeded"]
        dup = [e for e in rows if e.attempts > 1 + len(e.attempt_log) or e.candidates.count() > per_run]
        return {"completed": len(done), "lost": len(ids) - len(done), "duplicated": len(dup),
                "retried": sum(bool(e.attempt_log) for e in rows)}


def scenario_broker_down(b: Bench, n: int) -> dict:
    """Launches while Redis is down answer 201 at once and run when it is back."""
    b.redis.kill()
    answers = [b.launch(SMOKE_ZOO, f"down {i}") for i in range(n)]
    b.redis.start()
    ids = [a[1]["id"] for a in answers if a[0] == 201]
    wait_for(lambda: b.done(ids), timeout=120 + 30 * n, interval=1, what="the jobs launched with the broker down")
    out = b.tally(ids, per_run=1)
    out["lost"] += n - len(ids)
    out.update(server_errors=sum(a[0] >= 500 for a in answers), launched=n,
               launch_ms_max=round(1000 * max(a[2] for a in answers), 1),
               said_waiting=sum(a[1].get("message") == "queued: waiting for the broker" for a in answers))
    return out


def _restart_with_jobs_waiting(b: Bench, n: int, label: str, *, timeout: float) -> tuple[list, list, int]:
    """Launch ``n`` jobs, wait until Redis holds their messages, restart it (it forgets them), and wait up
    to ``timeout`` s for the jobs to end. Returns the launch answers, the ids launched and the messages held."""
    import redis

    answers = [b.launch(SMOKE_ZOO, f"{label} {i}") for i in range(n)]
    ids = [a[1]["id"] for a in answers if a[0] == 201]
    r = redis.Redis.from_url(b.redis.url)
    try:
        held = wait_for(lambda: r.llen("frontier"), timeout=60, what="messages waiting in Redis")
    except TimeoutError:
        held = 0
    r.close()
    b.redis.restart()
    try:
        wait_for(lambda: b.done(ids), timeout=timeout, interval=1, what=f"the {label} jobs after the restart")
    except TimeoutError:
        pass  # counted as lost by the tally
    return answers, ids, held


def scenario_broker_restart(b: Bench, n: int) -> dict:
    """Redis restarted (forgetting everything) with jobs waiting in it."""
    answers, ids, held = _restart_with_jobs_waiting(b, n, "waiting", timeout=60 + 30 * n)
    out = b.tally(ids, per_run=1)
    out["lost"] += n - len(ids)
    out.update(server_errors=sum(a[0] >= 500 for a in answers), launched=n, forgotten_by_broker=held)
    return out


def _mid_job(b: Bench, name: str) -> int:
    status, body, _ = b.launch(MID_ZOO, name)
    if status != 201:
        raise RuntimeError(f"launch answered {status}")
    pk = body["id"]

    def started() -> bool:
        try:
            return bool([e for e in b.rows([pk]) if e.candidate_count >= 1 and e.status == "running"])
        except Exception:
            return False
    wait_for(started, timeout=180, interval=0.5, what="a first candidate")
    return pk


def _unfinished(b: Bench, pk: int) -> bool:
    """Running before the fault and not finished right after it (the reconciler may
    already have queued it again): the fault hit the job mid-way."""
    return b.rows([pk])[0].status in ("running", "queued")


def scenario_worker_killed(b: Bench) -> dict:
    pk = _mid_job(b, "worker killed")
    stop_group(b.worker, signal.SIGKILL)
    mid_job = _unfinished(b, pk)
    b.start_worker()
    wait_for(lambda: b.done([pk]), timeout=240, interval=1, what="the retried job")
    return {**b.tally([pk], per_run=MID_RUN), "launched": 1, "killed_mid_job": mid_job}


def scenario_postgres_restart(b: Bench) -> dict:
    pk = _mid_job(b, "postgres restarted")
    b.pg.stop("immediate")
    time.sleep(1.0)
    b.pg.start()
    from django.db import connection

    connection.close()
    mid_job = _unfinished(b, pk)
    try:
        wait_for(lambda: b.done([pk]), timeout=240, interval=1, what="the job after PostgreSQL came back")
    except TimeoutError:
        pass
    return {**b.tally([pk], per_run=MID_RUN), "launched": 1, "killed_mid_job": mid_job}


def baseline_without_reconciler(b: Bench, n: int) -> dict:
    """The launch path as before this change: sent on commit, nothing re-sends."""
    b.stop_all()
    b.start_web(FRONTIER_RECONCILE_S="0")
    b.start_worker(FRONTIER_RECONCILE_S="0")
    # as long as the same jobs took with the reconciler, and then some
    _, ids, held = _restart_with_jobs_waiting(b, n, "baseline", timeout=30 + 15 * n)
    out = b.tally(ids, per_run=1)
    out.update(launched=n, forgotten_by_broker=held)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 jobs a scenario (a few minutes)")
    ap.add_argument("--jobs", type=int, default=None, help="jobs per scenario, 1..50 (default 8; --quick 3)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the run without the reconciler")
    args = ap.parse_args()
    n = args.jobs if args.jobs is not None else (3 if args.quick else 8)
    if not 1 <= n <= 50:
        ap.error("--jobs must be 1..50")
    tmp = Path(tempfile.mkdtemp(prefix="frontier-faults-"))
    t0 = time.perf_counter()
    b = Bench(tmp)
    results: dict[str, dict] = {}
    try:
        b.start_web()
        b.start_worker()
        for name, run in (("broker_down", lambda: scenario_broker_down(b, n)),
                          ("broker_restart", lambda: scenario_broker_restart(b, n)),
                          ("worker_killed", lambda: scenario_worker_killed(b)),
                          ("postgres_restart", lambda: scenario_postgres_restart(b))):
            s0 = time.perf_counter()
            results[name] = run()
            results[name]["wall_s"] = round(time.perf_counter() - s0, 1)
            print(f"{name}: {json.dumps(results[name])}", flush=True)
        if not args.no_baseline:
            s0 = time.perf_counter()
            results["baseline_no_reconciler"] = baseline_without_reconciler(b, n)
            results["baseline_no_reconciler"]["wall_s"] = round(time.perf_counter() - s0, 1)
            print(f"baseline_no_reconciler: {json.dumps(results['baseline_no_reconciler'])}", flush=True)
    finally:
        b.close()
        keep = os.environ.get("FRONTIER_BENCH_KEEP")
        if keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    ours = [v for k, v in results.items() if not k.startswith("baseline")]
    summary = {
        "jobs_completed": sum(v["completed"] for v in ours),
        "jobs_lost": sum(v["lost"] for v in ours),
        "jobs_duplicated": sum(v["duplicated"] for v in ours),
        "server_errors": sum(v.get("server_errors", 0) for v in ours),
        "jobs_launched": sum(v["launched"] for v in ours),
        "jobs_retried": sum(v["retried"] for v in ours),
        "broker_down_launch_ms_max": results["broker_down"]["launch_ms_max"],
        "kills_hit_mid_job": all(v.get("killed_mid_job", True) for v in ours),
        "baseline_jobs_lost": results.get("baseline_no_reconciler", {}).get("lost"),
        "baseline_jobs_completed": results.get("baseline_no_reconciler", {}).get("completed"),
        "jobs_per_scenario": n,
        "scenarios": results,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
