"""Output serializers, plus input shapes for the schema. Validation of input
happens in the services (one place for forms, the API and the CLI)."""
from rest_framework import serializers

from engine.hardware.profile import KINDS

from ..models import Artifact, Candidate, Experiment, HardwareProfile


class HardwareProfileSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", default=None, read_only=True)
    has_lookup_table = serializers.SerializerMethodField()
    lookup_table_info = serializers.SerializerMethodField()
    has_latency_predictor = serializers.SerializerMethodField()

    class Meta:
        model = HardwareProfile
        fields = ("slug", "title", "kind", "peak_gmacs", "memory_bandwidth_gbs", "onchip_memory_kb",
                  "memory_capacity_mb", "storage_mb", "layer_overhead_us", "cores", "bit_flexible", "measurable",
                  "source", "notes", "builtin", "owner", "has_lookup_table", "lookup_table_info", "has_latency_predictor",
                  "latency_model_experiment", "created_at", "updated_at")
        read_only_fields = fields

    def get_has_lookup_table(self, obj) -> bool:
        return obj.lookup_table is not None

    def get_lookup_table_info(self, obj) -> dict | None:
        from ..services.hardware import lookup_table_info

        return lookup_table_info(obj)

    def get_has_latency_predictor(self, obj) -> bool:
        return obj.latency_model is not None


class HardwareProfileInput(serializers.Serializer):
    slug = serializers.SlugField(max_length=60)
    title = serializers.CharField(max_length=200)
    kind = serializers.ChoiceField(choices=KINDS, required=False)
    peak_gmacs = serializers.DictField(child=serializers.FloatField(), help_text="GMAC/s per precision")
    memory_bandwidth_gbs = serializers.FloatField()
    onchip_memory_kb = serializers.FloatField(required=False)
    memory_capacity_mb = serializers.FloatField()
    storage_mb = serializers.FloatField(required=False)
    layer_overhead_us = serializers.FloatField(required=False)
    cores = serializers.IntegerField(required=False)
    bit_flexible = serializers.BooleanField(required=False)
    source = serializers.CharField(required=False, allow_blank=True)
    notes = serializers.CharField(required=False, allow_blank=True)


class ExperimentSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    hardware = serializers.CharField(source="hardware.slug", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Experiment
        fields = ("id", "url", "name", "technique", "hardware", "config", "status", "progress", "message", "error",
                  "summary", "candidate_count", "front_objectives", "queue", "owner", "created_at", "started_at",
                  "finished_at", "cancel_requested", "hardware_snapshot")
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return f"/experiments/{obj.pk}/"


class ExperimentInput(serializers.Serializer):
    technique = serializers.CharField(help_text="A technique name from /api/techniques/")
    hardware = serializers.CharField(help_text="A hardware profile slug")
    config = serializers.DictField(required=False, help_text="Settings; see the technique's JSON schema")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)


class CandidateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Candidate
        fields = ("index", "architecture", "metrics", "on_front", "created_at")
        read_only_fields = fields


class ArtifactSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    candidate = serializers.IntegerField(source="candidate.index", default=None, read_only=True)

    class Meta:
        model = Artifact
        fields = ("id", "kind", "group", "caption", "url", "size_bytes", "candidate", "created_at")
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return obj.file.url


class TechniqueSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    summary = serializers.CharField()
    paper = serializers.CharField()
    objectives = serializers.DictField(child=serializers.CharField())
    axes = serializers.ListField(child=serializers.CharField())
    schema = serializers.DictField()

