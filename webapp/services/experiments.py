"""Experiment writes from the pages and the API: launch (validate, store,
queue), cancel, delete. Running one is :mod:`.execution`; its front is
:mod:`.fronts`; worker liveness is :mod:`.heartbeat`."""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from engine import ConfigError, Technique, techniques

from ..errors import ApplicationError
from ..safejson import text_problem
from ..models import Experiment, HardwareProfile
from .dispatch import TASK_NAME, experiment_dispatch, waiting_message
from .hardware import profile_to_engine
from .networks import network_check_setting
from .uploads import upload_resolve

__all__ = ["experiment_launch", "experiment_cancel", "experiment_delete", "file_fields", "network_fields",
           "network_measure", "TASK_NAME"]

log = logging.getLogger(__name__)
S = Experiment.Status


def _enqueue(experiment: Experiment) -> None:
    # the row is committed: send now; if the broker is away it stays in the outbox for the reconciler
    experiment_dispatch(experiment_id=experiment.pk)


def _queue_for(technique: Technique, hw: HardwareProfile, config: Any = None) -> str:
    # Jobs that must measure on the device itself (the technique always does, or
    # the user asked for it) go to that device's queue, where a worker started
    # on the device listens; everything else runs on the default queue.
    wants = technique.wants_device or bool(getattr(config, "measure_on_device", False))
    if wants and not hw.measurable:
        return hw.queue
    return settings.CELERY_TASK_DEFAULT_QUEUE


def experiment_launch(*, owner: AbstractBaseUser, technique: str, hardware: HardwareProfile | str,
                      config: dict[str, Any] | None = None, name: str = "", shared: bool = False,
                      typed: bool = False) -> Experiment:
    """Validate and store a new experiment, then send it to the broker once committed
    (a broker that is down leaves it queued, "queued: waiting for the broker"). ``shared``: seen by
    everyone signed in (else only by its owner and staff). ``typed``: the config came as JSON
    (the API), so a number given as text ("5") is refused, as a form's text is not."""
    errors: dict[str, str] = {}
    if technique not in techniques:
        raise ApplicationError("Unknown technique.", field_errors={
            "technique": f"unknown technique {technique!r}; one of {', '.join(techniques.names())}"})
    tech = techniques.get(technique)
    if isinstance(hardware, str):
        hw = HardwareProfile.objects.filter(slug=hardware).first()
        if hw is None:
            errors["hardware"] = f"unknown hardware profile {hardware!r}"
    else:
        hw = hardware
    if not isinstance(name, str) or len(name) > 200:
        errors["name"] = "text of at most 200 characters"
    elif why := text_problem(name):
        errors["name"] = why
    if not isinstance(shared, bool):
        errors["shared"] = "must be true or false"
    if config is not None and not isinstance(config, dict):
        errors["config"] = "must be an object of settings"
        config = None
    config = _network_ids_as_text(config, technique)
    try:
        parsed = tech.parse(config or {}, strict=typed)
    except ConfigError as e:
        errors.update({f"config.{k}": v for k, v in e.errors.items()})
        parsed = None
    if parsed is not None:
        errors.update({f"config.{k}": v for k, v in _webapp_checks(parsed, technique, owner).items()})
    if errors:
        raise ApplicationError("The experiment is not valid.", field_errors=errors)
    queue = _queue_for(tech, hw, parsed)
    with transaction.atomic():
        exp = Experiment.objects.create(
            owner=owner, name=name.strip(), technique=technique, config=parsed.to_dict(), hardware=hw, shared=shared,
            hardware_snapshot=profile_to_engine(hw).to_dict(), queue=queue, message=waiting_message(queue))
        # the outbox: the row is the durable intent; sending follows the commit (and is retried)
        transaction.on_commit(lambda: _enqueue(exp))
    if not transaction.get_connection().in_atomic_block:  # sent already: answer with how that went
        exp.refresh_from_db(fields=["message", "task_id", "dispatched_at", "status"])
    return exp


def file_fields(technique: str) -> list[str]:
    """The settings of ``technique`` that name a user's uploaded file."""
    return [s.name for s in techniques.get(technique).config_cls.specs() if s.file]


def network_fields(technique: str) -> dict[str, tuple[str, ...]]:
    """The settings of ``technique`` that name a saved network, with the problem kinds each takes."""
    return {s.name: s.network for s in techniques.get(technique).config_cls.specs() if s.network}


def _network_ids_as_text(config: Any, technique: str) -> Any:
    """The API gives a network setting as the network's id (a number); the config holds it as text."""
    if not isinstance(config, dict):
        return config
    out = dict(config)
    for key in network_fields(technique):
        v = out.get(key)
        if isinstance(v, int) and not isinstance(v, bool):
            out[key] = str(v)
    return out


def network_measure(*, network: Any, hardware: HardwareProfile | str, user: AbstractBaseUser,
                    measure_on_device: bool = False) -> Experiment:
    """Launch a ``network-latency`` run of a saved network on ``hardware``."""
    return experiment_launch(owner=user, technique="network-latency", hardware=hardware,
                             config={"network": str(network.pk), "measure_on_device": bool(measure_on_device)},
                             name=f"latency of {network.name}"[:200])


def _webapp_checks(config: Any, technique: str, owner: AbstractBaseUser) -> dict[str, str]:
    """Checks only the server can make: a file named in a config must be one
    of the owner's uploads (see services.uploads); a network setting must name
    one of the owner's networks of a kind the technique takes."""
    errors = {}
    for key, kinds in network_fields(technique).items():
        value = getattr(config, key, "")
        if value:
            err = network_check_setting(value=value, owner=owner, kinds=kinds)
            if err:
                errors[key] = err
    for key in file_fields(technique):
        value = getattr(config, key, "")
        path = upload_resolve(owner=owner, relative=value) if value else None
        if value and path is None:
            errors[key] = "must name a file you uploaded (POST /api/uploads/ or the form's file field)"
        elif path is not None:  # the technique's own check of the file's content, on the stored file
            try:
                type(config).from_dict({**config.to_dict(), key: str(path)})
            except ConfigError as e:
                if key in e.errors:
                    errors[key] = e.errors[key]
    return errors


def _check_owner(exp: Experiment, user: AbstractBaseUser, verb: str) -> None:
    if exp.owner_id != user.pk and not user.is_staff:
        raise ApplicationError(f"Only the owner or staff can {verb} this experiment.", status=403)


def experiment_cancel(*, experiment: Experiment, user: AbstractBaseUser) -> Experiment:
    _check_owner(experiment, user, "cancel")
    with transaction.atomic():
        # A queued job is cancelled at once; a running one stops at its next report.
        n = Experiment.objects.filter(pk=experiment.pk, status=S.QUEUED).update(
            status=S.CANCELLED, cancel_requested=True, finished_at=timezone.now(), message="Cancelled before it started")
        if not n:
            n = Experiment.objects.filter(pk=experiment.pk, status=S.RUNNING).update(
                cancel_requested=True, message="Cancelling…")
        if not n:
            raise ApplicationError(f"The experiment has already {experiment.status}; nothing to cancel.")
    if experiment.task_id:
        try:
            from celery import current_app

            current_app.control.revoke(experiment.task_id)
        except Exception:  # the flag above is what stops it; revoke only saves a worker a fetch
            log.warning("revoke of %s failed", experiment.task_id, exc_info=True)
    experiment.refresh_from_db()
    return experiment


def experiment_delete(*, experiment: Experiment, user: AbstractBaseUser) -> None:
    _check_owner(experiment, user, "delete")
    if experiment.status == S.RUNNING:
        raise ApplicationError("The experiment is running; cancel it first.")
    files = [a.file for a in experiment.artifacts.all()]
    with transaction.atomic():
        experiment.delete()
    for f in files:
        f.delete(save=False)
