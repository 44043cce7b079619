from django.core.management.base import BaseCommand, CommandError

from webapp import services
from webapp.models import Experiment


class Command(BaseCommand):
    help = "Run one queued experiment synchronously in this process (no worker needed)."

    def add_arguments(self, parser):
        parser.add_argument("experiment_id", type=int)

    def handle(self, *args, experiment_id: int, **opts):
        exp = Experiment.objects.filter(pk=experiment_id).first()
        if exp is None:
            raise CommandError(f"no experiment {experiment_id}")
        if exp.status != Experiment.Status.QUEUED:
            raise CommandError(f"experiment {experiment_id} is {exp.status}; only a queued one can run")
        exp = services.experiment_execute(experiment_id=experiment_id)
        if exp is None:
            raise CommandError("another worker took it first")
        self.stdout.write(f"experiment {exp.pk}: {exp.status} — {exp.message} ({exp.candidate_count} candidates)")
        if exp.status != Experiment.Status.SUCCEEDED:
            raise CommandError(exp.error.splitlines()[0] if exp.error else exp.status)
