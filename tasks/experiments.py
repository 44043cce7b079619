"""Experiment tasks: a few lines each; the work is in webapp.services."""
import logging
import os
import threading
import time

from celery import shared_task
from celery.signals import worker_ready

from webapp import services


@shared_task(name="frontier.run_experiment", acks_late=True, reject_on_worker_lost=True)
def run_experiment(experiment_id: int) -> str:
    exp = services.experiment_execute(experiment_id=experiment_id)
    return exp.status if exp else "skipped"


@worker_ready.connect
def recover_orphans(**kwargs) -> None:
    """On start, and every half minute after, fail what a dead worker left running."""
    def loop() -> None:
        while True:
            try:
                services.experiment_recover_orphans(hostname=os.uname().nodename)
            except Exception:  # the database may be briefly away; try again later
                logging.getLogger(__name__).exception("recovering orphaned experiments failed")
            time.sleep(30)

    threading.Thread(target=loop, daemon=True, name="frontier-recover").start()
