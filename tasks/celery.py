"""The Celery app. Broker and result store come from Django settings
(Redis with REDIS_URL, else kombu's filesystem transport under var/)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("frontier")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = ("tasks.experiments",)
app.set_current()
app.set_default()
