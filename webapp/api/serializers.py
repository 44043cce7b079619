"""Output serializers, plus input shapes for the schema. Validation of input
happens in the services (one place for forms, the API and the CLI). The
hardware profile's fields are generated from the engine's HardwareProfile."""
from __future__ import annotations

import dataclasses
import typing
from typing import Any

from rest_framework import serializers

from engine.hardware.profile import HardwareProfile as EngineProfile

from ..models import Artifact, Candidate, Experiment, HardwareProfile, Network, NetworkLatency

__all__ = ["HardwareProfileSerializer", "HardwareProfileInput", "ExperimentSerializer", "ExperimentInput",
           "CandidateSerializer", "ArtifactSerializer", "TechniqueSerializer", "NetworkSerializer",
           "NetworkUploadInput", "NetworkLatencySerializer"]

_PROFILE_HINTS = typing.get_type_hints(EngineProfile)
#: the engine profile's figures the webapp stores and shows (not its name, which is the slug, nor attached data)
_SHOWN = tuple(f.name for f in dataclasses.fields(EngineProfile) if f.name != "name" and not f.metadata["attached"])


def _input_field(f: dataclasses.Field) -> serializers.Field:
    """The schema of one user-set field of the engine's HardwareProfile, from its metadata."""
    m, tp = f.metadata, _PROFILE_HINTS[f.name]
    has_default = f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING
    common: dict[str, Any] = {"required": not has_default,
                              "help_text": m["help"] + (f" ({m['unit']})" if m["unit"] else "")}
    bounds = {"min_value": m["min"], "max_value": m["max"]}
    if m["keys"]:
        return serializers.DictField(child=serializers.FloatField(**bounds), **{
            **common, "help_text": f"{m['unit']} per precision ({', '.join(m['keys'])}): {m['help']}"})
    if m["choices"]:
        return serializers.ChoiceField(choices=m["choices"], **common)
    if tp is bool:
        return serializers.BooleanField(**common)
    if tp is int:
        return serializers.IntegerField(**bounds, **common)
    if tp is float:
        return serializers.FloatField(**bounds, **common)
    return serializers.CharField(max_length=m["max_length"], allow_blank=has_default, **common)


class HardwareProfileSerializer(serializers.ModelSerializer):
    #: null for the built-in profiles
    owner = serializers.CharField(source="owner.username", default=None, allow_null=True, read_only=True)
    has_lookup_table = serializers.SerializerMethodField()
    lookup_table_info = serializers.SerializerMethodField()
    has_latency_predictor = serializers.SerializerMethodField()

    class Meta:
        model = HardwareProfile
        fields = ("slug", *_SHOWN, "builtin", "owner", "has_lookup_table", "lookup_table_info",
                  "has_latency_predictor", "latency_model_experiment", "created_at", "updated_at")
        read_only_fields = fields

    def get_has_lookup_table(self, obj) -> bool:
        return obj.lookup_table is not None

    def get_lookup_table_info(self, obj) -> dict | None:
        from ..services.hardware import lookup_table_info

        return lookup_table_info(obj)

    def get_has_latency_predictor(self, obj) -> bool:
        return obj.latency_model is not None


class HardwareProfileInput(serializers.Serializer):
    """A hardware profile as the API takes it, for the schema (the service
    validates): the slug, then every user-set field of the engine's profile."""

    slug = serializers.SlugField(max_length=60)

    def get_fields(self) -> dict[str, serializers.Field]:
        return {**super().get_fields(), **{f.name: _input_field(f) for f in dataclasses.fields(EngineProfile)
                                           if f.metadata["editable"]}}


class ExperimentSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    hardware = serializers.CharField(source="hardware.slug", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Experiment
        fields = ("id", "url", "name", "technique", "hardware", "config", "status", "progress", "message", "error",
                  "summary", "candidate_count", "front_objectives", "queue", "owner", "shared", "created_at",
                  "started_at", "finished_at", "cancel_requested", "hardware_snapshot", "flow",
                  "attempts", "attempt_log", "dispatched_at")
        read_only_fields = fields
        extra_kwargs = {"error": {"help_text": "A failure's traceback: empty unless you own the experiment or are "
                                               "staff (the message says what happened)"},
                        "shared": {"help_text": "Seen by everyone signed in; else only by its owner and staff"}}

    def get_url(self, obj) -> str:
        return f"/experiments/{obj.pk}/"

    def to_representation(self, obj):
        from ..selectors import can_manage_experiment

        data = super().to_representation(obj)
        request = self.context.get("request")
        if not can_manage_experiment(getattr(request, "user", None), obj):
            data["error"] = ""
        return data


class ExperimentInput(serializers.Serializer):
    technique = serializers.CharField(help_text="A technique name from /api/techniques/")
    hardware = serializers.CharField(help_text="A hardware profile slug")
    config = serializers.DictField(required=False, help_text="Settings; see the technique's JSON schema")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    shared = serializers.BooleanField(required=False, default=False,
                                      help_text="Seen by everyone signed in (default: only you and staff)")


class CandidateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Candidate
        fields = ("index", "architecture", "metrics", "on_front", "created_at")
        read_only_fields = fields


class ArtifactSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    candidate = serializers.IntegerField(source="candidate.index", default=None, allow_null=True, read_only=True)

    class Meta:
        model = Artifact
        fields = ("id", "kind", "group", "caption", "url", "size_bytes", "candidate", "created_at")
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return obj.url


class TechniqueSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    summary = serializers.CharField()
    paper = serializers.CharField()
    objectives = serializers.DictField(child=serializers.CharField())
    axes = serializers.ListField(child=serializers.CharField())
    schema = serializers.DictField()



class NetworkLatencySerializer(serializers.ModelSerializer):
    hardware = serializers.CharField(source="hardware.slug", read_only=True)

    class Meta:
        model = NetworkLatency
        fields = ("hardware", "source", "latency_ms", "spread_ms", "experiment", "created_at")
        read_only_fields = fields


class NetworkSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    url = serializers.SerializerMethodField()
    parent = serializers.IntegerField(source="parent_id", default=None, allow_null=True, read_only=True)
    candidate = serializers.IntegerField(source="candidate.index", default=None, allow_null=True, read_only=True)
    latencies = NetworkLatencySerializer(many=True, read_only=True)
    downloads = serializers.SerializerMethodField()

    class Meta:
        model = Network
        fields = ("id", "uid", "url", "name", "owner", "builder", "spec", "problem", "problem_kind", "dataset",
                  "metrics", "accuracy", "params", "macs", "made_by", "technique", "parent", "parent_uid",
                  "parent_name", "experiment", "candidate", "uploaded", "preprocess", "weights_bytes", "latencies",
                  "downloads", "created_at")
        read_only_fields = fields

    def get_url(self, obj) -> str:
        return f"/networks/{obj.pk}/"

    def get_downloads(self, obj) -> dict[str, str]:
        return {fmt: f"/networks/{obj.pk}/download/{fmt}/" for fmt in ("safetensors", "onnx", "torchscript", "json")}


class NetworkUploadInput(serializers.Serializer):
    """A user's own network, multipart (the service validates)."""

    name = serializers.CharField(max_length=200)
    architecture = serializers.CharField(help_text="A torchvision classifier name, e.g. mobilenet_v2")
    width = serializers.FloatField(required=False, default=1.0)
    classes = serializers.IntegerField(required=False, default=10, min_value=1, max_value=100_000)
    resolution = serializers.IntegerField(required=False, default=32, min_value=16, max_value=1024)
    dataset = serializers.CharField(required=False, allow_blank=True)
    weights = serializers.FileField(help_text="The state_dict as a .safetensors file")
