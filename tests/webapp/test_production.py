"""The production server (issue 17, part 6): `manage.py serve` (make run) serves
with gunicorn and WhiteNoise, DEBUG is off unless asked for, the secret key is
generated once and kept, and `check --deploy` with production settings is clean."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "k" * 20 + "-production-test-key-0123456789-abcdefghijklmnopqrstuv",
              "FRONTIER_TLS": "true", "FRONTIER_BEHIND_TLS_PROXY": "true", "ALLOWED_HOSTS": "frontier.example"}


def _env(tmp_path, **extra) -> dict[str, str]:
    # a deployment's environment: none of the test run's own (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE)
    env = {k: v for k, v in os.environ.items()
           if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update({"FRONTIER_VAR_DIR": str(tmp_path / "var"), "OMP_NUM_THREADS": "1", **extra})
    return env


def _manage(tmp_path, *args, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=_env(tmp_path, **env),
                          capture_output=True, text=True, timeout=240)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    """The environment of a deployment behind TLS gives settings with no deploy warning (a subprocess:
    settings are read from the environment once, at start)."""
    r = _manage(tmp_path, "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no issues" in r.stdout + r.stderr


def test_hsts_preload_is_asked_for_not_assumed(tmp_path):
    """Behind TLS, HSTS is sent, but preloading (a promise to the browsers' built-in lists, slow to
    undo) only with SECURE_HSTS_PRELOAD=true."""
    show = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'webapp.settings'); django.setup();"
            "from django.conf import settings as s; print(s.SECURE_HSTS_SECONDS > 0, s.SECURE_HSTS_PRELOAD)")
    for extra, preload in (({}, "False"), ({"SECURE_HSTS_PRELOAD": "true"}, "True")):
        r = subprocess.run([sys.executable, "-c", show], cwd=ROOT, env=_env(tmp_path, **PRODUCTION, **extra),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == ["True", preload]


def test_check_deploy_warns_without_the_tls_settings(settings):
    """Without them it warns: HSTS (W004) and the SSL redirect (W008), which is why they are settable."""
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    settings.SECURE_HSTS_SECONDS, settings.SECURE_SSL_REDIRECT = 0, False
    with pytest.raises(SystemCheckError) as e:
        call_command("check", deploy=True, fail_level="WARNING", tags=["security"])
    assert "security.W004" in str(e.value) and "security.W008" in str(e.value)


def test_debug_is_off_unless_asked(tmp_path):
    show = ("import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'webapp.settings'); django.setup();"
            "from django.conf import settings as s; print(s.DEBUG, len(s.SECRET_KEY))")
    r = subprocess.run([sys.executable, "-c", show], cwd=ROOT, env=_env(tmp_path), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "False" and int(r.stdout.split()[1]) >= 50


def test_the_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    from webapp import settings as module

    monkeypatch.setattr(module, "VAR_DIR", tmp_path)
    key = module._local_secret_key()
    assert len(key) >= 50 and module._local_secret_key() == key
    keyfile = tmp_path / "secret_key"
    assert keyfile.read_text().strip() == key and (keyfile.stat().st_mode & 0o777) == 0o600
    keyfile.write_text("short")
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        module._local_secret_key()


def test_serve_runs_gunicorn_with_threads():
    from webapp.management.commands.serve import web_command

    cmd = web_command(host="127.0.0.1", port=8123, threads=4)
    assert cmd[1:4] == ["-m", "gunicorn", "webapp.wsgi:application"] and "runserver" not in cmd
    assert cmd[cmd.index("--threads") + 1] == "4" and cmd[cmd.index("--bind") + 1] == "127.0.0.1:8123"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_gunicorn_serves_pages_and_static_files(tmp_path):
    from webapp.management.commands.serve import web_command

    port = _free_port()
    proc = subprocess.Popen(web_command(host="127.0.0.1", port=port, threads=2), cwd=ROOT, env=_env(tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                status, headers, body = _get(base + "/login/")
                break
            except OSError:  # not listening yet, or still loading the application
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read().decode()[-2000:]
                time.sleep(0.5)
        assert status == 200 and headers["Server"].startswith("gunicorn") and b"Log in" in body
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        status, headers, body = _get(base + "/static/frontier/app.css")  # WhiteNoise
        assert status == 200 and headers["Content-Type"].startswith("text/css") and "max-age" in headers["Cache-Control"]
        status, headers, body = _get(base + "/no-such-page/")
        assert status == 404 and b"URLconf" not in body and b"Traceback" not in body  # DEBUG is off
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=20)
