"""Experiment tasks: a few lines each; the work is in webapp.services."""
from celery import shared_task
from celery.signals import worker_ready

from webapp import services


# the outcome is in the Experiment row: no result store
@shared_task(name="frontier.run_experiment", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_experiment(experiment_id: int) -> str:
    exp = services.experiment_execute(experiment_id=experiment_id)
    return exp.status if exp else "skipped"


@worker_ready.connect
def start_reconciler(**kwargs) -> None:
    """Every worker (and every web server, see webapp.wsgi) runs the reconciler:
    it sends what the broker never got or lost and re-queues or fails what a dead
    worker left running; a database lease keeps two from passing at once."""
    services.start_reconciler(who="worker")
