import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
application = get_wsgi_application()
import tasks.celery  # noqa: E402,F401  (configures the Celery app that services queue to)

# the web server runs the reconciler too (webapp.services.dispatch): a job is sent,
# re-sent and recovered even while no worker runs. FRONTIER_RECONCILE_S=0 turns it off.
from webapp.services import start_reconciler  # noqa: E402

start_reconciler(who="web")
