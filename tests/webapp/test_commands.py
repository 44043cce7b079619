"""Management commands: frontier_setup and run_experiment."""
from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from engine.hardware.profile import builtin_profiles
from tests.conftest import SMOKE_ZOO
from tests.webapp.test_services import fast_hashing, launch_toy, make_exp, toy  # noqa: F401  (fixtures)
from webapp import services
from webapp.models import Experiment, HardwareProfile

S = Experiment.Status
pytestmark = pytest.mark.django_db


def _call(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_frontier_setup_loads_profiles_and_prints_a_password_once(django_user_model):
    first = _call("frontier_setup")
    n = len(builtin_profiles())
    assert f"{n} built-in hardware profiles loaded" in first
    assert HardwareProfile.objects.filter(builtin=True).count() == n
    m = re.search(r"password:\s*(\S+)", first)
    assert m, first
    password = m.group(1)
    admin = django_user_model.objects.get(username="admin")
    assert admin.is_superuser and authenticate(username="admin", password=password) == admin
    assert password not in ("admin", "password", "changeme")
    second = _call("frontier_setup")
    assert "password" not in second.lower()
    assert f"{n} built-in hardware profiles loaded" in second
    assert HardwareProfile.objects.count() == n and django_user_model.objects.count() == 1


def test_frontier_setup_passwords_differ_between_installs(django_user_model):
    pw1 = re.search(r"password:\s*(\S+)", _call("frontier_setup")).group(1)
    django_user_model.objects.all().delete()
    pw2 = re.search(r"password:\s*(\S+)", _call("frontier_setup")).group(1)
    assert pw1 != pw2


def test_run_experiment_runs_a_queued_one(profiles, user, no_queue, media_root):
    exp = services.experiment_launch(owner=user, technique="model-zoo", hardware="local-cpu", config=SMOKE_ZOO)
    out = _call("run_experiment", str(exp.pk))
    exp.refresh_from_db()
    assert exp.status == S.SUCCEEDED and exp.candidate_count == 1 and exp.candidates.filter(on_front=True).exists()
    assert f"experiment {exp.pk}: succeeded" in out and "1 candidates" in out


def test_run_experiment_missing(db):
    with pytest.raises(CommandError, match="no experiment 424242"):
        _call("run_experiment", "424242")


@pytest.mark.parametrize("status", [S.RUNNING, S.SUCCEEDED, S.FAILED, S.CANCELLED])
def test_run_experiment_not_queued(profiles, user, status):
    exp = make_exp(user, profiles["local-cpu"], status=status)
    with pytest.raises(CommandError, match=f"is {status}; only a queued one can run"):
        _call("run_experiment", str(exp.pk))
    exp.refresh_from_db()
    assert exp.status == status and exp.attempts == 0


def test_run_experiment_reports_a_failure(toy, profiles, user, no_queue):
    exp = launch_toy(user, mode="boom")
    with pytest.raises(CommandError, match="RuntimeError: toy exploded on purpose"):
        _call("run_experiment", str(exp.pk))
    assert Experiment.objects.get(pk=exp.pk).status == S.FAILED


def test_run_experiment_needs_an_integer_id(db):
    with pytest.raises(CommandError):
        _call("run_experiment", "seven")
