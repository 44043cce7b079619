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
