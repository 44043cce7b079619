"""Who else may see an experiment: private to its owner (and staff) by default,
or shared with everyone signed in. The rule itself is read in
:mod:`webapp.selectors` (``experiments_visible`` and friends)."""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from ..errors import ApplicationError
from ..models import Experiment

__all__ = ["experiment_share"]


def experiment_share(*, experiment: Experiment, user: AbstractBaseUser, shared: bool) -> Experiment:
    """Share ``experiment`` with everyone signed in, or make it private again (owner or staff)."""
    if not isinstance(shared, bool):
        raise ApplicationError("Not a switch.", field_errors={"shared": "must be true or false"})
    if experiment.owner_id != user.pk and not user.is_staff:
        raise ApplicationError("Only the owner or staff can share this experiment.", status=403)
    Experiment.objects.filter(pk=experiment.pk).update(shared=shared)
    experiment.shared = shared
    return experiment
