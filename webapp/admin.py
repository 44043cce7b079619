from django.contrib import admin

from .models import Artifact, Candidate, Experiment, HardwareProfile, SeriesPoint


@admin.register(HardwareProfile)
class HardwareProfileAdmin(admin.ModelAdmin):
    list_display = ("slug", "title", "kind", "builtin", "owner", "memory_capacity_mb", "updated_at")
    list_filter = ("kind", "builtin")
    search_fields = ("slug", "title")


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "technique", "hardware", "status", "progress", "owner", "created_at")
    list_filter = ("technique", "status", "hardware")
    search_fields = ("name", "technique")
    raw_id_fields = ("owner",)


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ("experiment", "index", "on_front", "created_at")
    list_filter = ("on_front",)
    raw_id_fields = ("experiment",)


@admin.register(SeriesPoint)
class SeriesPointAdmin(admin.ModelAdmin):
    list_display = ("experiment", "name", "step", "value")
    raw_id_fields = ("experiment",)


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ("experiment", "kind", "group", "caption", "size_bytes", "created_at")
    list_filter = ("kind",)
    raw_id_fields = ("experiment", "candidate")


# The admin's login shows the sign-in lock-out as the login page does (429); the lock-out itself is
# webapp.backends', on every password check. Set before the URLconf reads admin.site.urls.
_admin_login = admin.site.login


def _locked_or_admin_login(request, extra_context=None):
    from .views import _sign_in_locked

    return _sign_in_locked(request) or _admin_login(request, extra_context)


admin.site.login = _locked_or_admin_login
