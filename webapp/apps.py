from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _sqlite_pragmas(sender, connection, **kwargs):
    if connection.vendor == "sqlite":
        with connection.cursor() as cur:
            cur.execute("PRAGMA busy_timeout = 30000;")


def _revoke_token_on_new_password(sender, instance, raw=False, update_fields=None, **kwargs):
    """A password change (the admin, ``changepassword``, ``set_password`` and a save) revokes the
    user's API token, as it ends their other sessions: a token taken with the old password must
    not outlive it."""
    if raw or instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    old = sender.objects.filter(pk=instance.pk).values_list("password", flat=True).first()
    if old is not None and old != instance.password:
        from rest_framework.authtoken.models import Token

        Token.objects.filter(user_id=instance.pk).delete()


class FrontierConfig(AppConfig):
    name = "webapp"
    label = "frontier"
    verbose_name = "Frontier"

    def ready(self) -> None:
        connection_created.connect(_sqlite_pragmas)
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        pre_save.connect(_revoke_token_on_new_password, sender=get_user_model(),
                         dispatch_uid="frontier-revoke-token-on-new-password")
