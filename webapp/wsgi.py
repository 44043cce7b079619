import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
application = get_wsgi_application()
import tasks.celery  # noqa: E402,F401  (configures the Celery app that services queue to)
