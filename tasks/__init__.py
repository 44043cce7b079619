"""Celery app and thin task functions that call webapp.services."""
