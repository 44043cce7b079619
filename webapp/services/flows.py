"""Design-automation flows: search -> prune -> quantise on one profile, each
step an experiment whose input is the network the step before kept.

A flow is stored on its experiments (``Experiment.flow``: id, name, step and
every step's technique and settings). When a step succeeds,
:func:`flow_advance` launches the next one with the network the step marked
as its result (``Network.primary``; else its most accurate) in the next
technique's ``network`` setting. A step that fails stops the flow.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from engine import ConfigError, techniques

from ..errors import ApplicationError
from ..safejson import text_problem
from ..models import Experiment, HardwareProfile
from ..selectors import result_network
from .experiments import experiment_launch, network_fields

__all__ = ["flow_launch", "flow_advance", "FIRST_STEPS", "MAX_STEPS"]

log = logging.getLogger(__name__)
#: techniques a flow may start with: each keeps the network it found
FIRST_STEPS = ("evolution", "proxylessnas", "model-zoo", "amc", "haq")
MAX_STEPS = 5


def _step_name(name: str, k: int, n: int, technique: str) -> str:
    return f"{name} · step {k + 1}/{n}: {technique}"[:200]


def flow_launch(*, owner: AbstractBaseUser, hardware: HardwareProfile | str, steps: Any, name: str = "",
                typed: bool = False) -> Experiment:
    """Validate every step, then launch the first; returns its experiment. ``typed``: the steps
    came as JSON (the API): a number given as text is refused there."""
    errors: dict[str, str] = {}
    if not isinstance(steps, list) or not 1 <= len(steps) <= MAX_STEPS:
        raise ApplicationError("The flow is not valid.", field_errors={
            "steps": f"a list of 1 to {MAX_STEPS} steps, each {{\"technique\": …, \"config\": {{…}}}}"})
    if not isinstance(name, str) or len(name) > 150:
        raise ApplicationError("The flow is not valid.", field_errors={"name": "text of at most 150 characters"})
    if why := text_problem(name):
        raise ApplicationError("The flow is not valid.", field_errors={"name": why})
    clean = []
    for k, st in enumerate(steps):
        if not isinstance(st, dict) or set(st) - {"technique", "config"}:
            errors[f"steps.{k}"] = "an object with technique and config"
            continue
        tech, cfg = st.get("technique"), st.get("config") or {}
        if tech not in techniques:
            errors[f"steps.{k}.technique"] = f"one of {', '.join(techniques.names())}"
            continue
        if k == 0 and tech not in FIRST_STEPS:
            errors["steps.0.technique"] = f"a flow starts with one of {', '.join(FIRST_STEPS)}"
        nets = network_fields(tech)
        if k > 0 and not nets:
            errors[f"steps.{k}.technique"] = f"{tech} takes no network, so it cannot follow a step"
            continue
        if not isinstance(cfg, dict):
            errors[f"steps.{k}.config"] = "an object of settings"
            continue
        if k > 0 and any(cfg.get(f) for f in nets):
            errors[f"steps.{k}.config"] = "its network comes from the step before; leave the network setting out"
            continue
        try:
            techniques.get(tech).parse(cfg, strict=typed)
        except ConfigError as e:
            errors.update({f"steps.{k}.config.{f}": m for f, m in e.errors.items()})
            continue
        clean.append({"technique": tech, "config": cfg})
    if errors:
        raise ApplicationError("The flow is not valid.", field_errors=errors)
    name = name.strip() or "design flow"
    flow = {"id": uuid.uuid4().hex, "name": name, "step": 0, "steps": clean}
    with transaction.atomic():  # the job is sent on commit: with its flow already stored
        exp = experiment_launch(owner=owner, technique=clean[0]["technique"], hardware=hardware,
                                config=clean[0]["config"], name=_step_name(name, 0, len(clean),
                                                                            clean[0]["technique"]),
                                typed=typed)
        Experiment.objects.filter(pk=exp.pk).update(flow=flow)
    exp.refresh_from_db()
    return exp


def flow_advance(*, experiment_id: int) -> Experiment | None:
    """After a step succeeded: launch the next on the network it kept (None when the flow is done)."""
    exp = Experiment.objects.select_related("hardware", "owner").get(pk=experiment_id)
    flow = exp.flow or {}
    steps, k = flow.get("steps") or [], int(flow.get("step", 0))
    if k + 1 >= len(steps):
        return None
    net = result_network(exp)
    if net is None:
        Experiment.objects.filter(pk=exp.pk).update(message=(exp.message + " — the flow stopped: this step kept no "
                                                             "network")[:500])
        return None
    nxt = steps[k + 1]
    field = next(iter(network_fields(nxt["technique"])))
    with transaction.atomic():
        child = experiment_launch(owner=exp.owner, technique=nxt["technique"], hardware=exp.hardware,
                                  config={**nxt["config"], field: str(net.pk)},
                                  name=_step_name(flow.get("name", "flow"), k + 1, len(steps), nxt["technique"]))
        Experiment.objects.filter(pk=child.pk).update(flow={**flow, "step": k + 1})
    return child
