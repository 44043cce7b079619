"""Frontier's data. Models hold data only: writes go through webapp.services,
reads through webapp.selectors."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from engine.hardware.profile import KINDS

__all__ = ["HardwareProfile", "Experiment", "Candidate", "SeriesPoint", "Artifact", "Network", "NetworkLatency"]


class HardwareProfile(models.Model):
    """A target device: the engine's profile plus owner, notes and an optional
    measured lookup table."""

    slug = models.SlugField(max_length=60, unique=True)
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=[(k, k) for k in KINDS], default="cpu")
    peak_gmacs = models.JSONField(default=dict, help_text="Peak GMAC/s per precision, e.g. {\"fp32\": 24}")
    memory_bandwidth_gbs = models.FloatField(help_text="GB/s")
    onchip_memory_kb = models.FloatField(default=0, help_text="KiB of cache / SRAM")
    memory_capacity_mb = models.FloatField(help_text="MiB of main memory")
    storage_mb = models.FloatField(default=0, help_text="MiB of flash / storage")
    layer_overhead_us = models.FloatField(default=10, help_text="µs of fixed cost per layer")
    cores = models.PositiveIntegerField(default=1)
    bit_flexible = models.BooleanField(default=False)
    measurable = models.BooleanField(default=False, help_text="Latency can be measured on the worker running it")
    source = models.TextField(blank=True, help_text="Where the figures come from")
    notes = models.TextField(blank=True)
    builtin = models.BooleanField(default=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="hardware_profiles")
    lookup_table = models.JSONField(null=True, blank=True)
    lookup_table_uploaded_at = models.DateTimeField(null=True, blank=True)
    #: the latency model (predictor) chosen for later searches, produced by a latency-model experiment
    latency_model = models.JSONField(null=True, blank=True)
    latency_model_experiment = models.ForeignKey("Experiment", null=True, blank=True, on_delete=models.SET_NULL,
                                                 related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-builtin", "slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def queue(self) -> str:
        return f"device.{self.slug}"


class Experiment(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="experiments")
    name = models.CharField(max_length=200, blank=True)
    technique = models.CharField(max_length=50, db_index=True)
    config = models.JSONField(default=dict)
    hardware = models.ForeignKey(HardwareProfile, on_delete=models.PROTECT, related_name="experiments")
    #: a snapshot of the profile's figures when the experiment was launched
    hardware_snapshot = models.JSONField(default=dict)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=500, blank=True)
    error = models.TextField(blank=True)
    summary = models.JSONField(default=dict, blank=True)
    #: metric name -> "number" | "text", for sorting and axis menus
    metric_keys = models.JSONField(default=dict, blank=True)
    #: objectives the stored front was computed on: [[metric, "min"|"max"], [...]]
    front_objectives = models.JSONField(default=list, blank=True)
    candidate_count = models.PositiveIntegerField(default=0)
    queue = models.CharField(max_length=100, blank=True)
    task_id = models.CharField(max_length=255, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    #: when the broker took the job's message (``task_id``); null while the row is
    #: the outbox entry still to send (services.dispatch sends it, the reconciler retries)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    #: the attempts that ended without finishing (a worker lost): [{attempt, worker,
    #: started_at, ended_at, reason}], oldest first
    attempt_log = models.JSONField(default=list, blank=True)
    cancel_requested = models.BooleanField(default=False)
    #: private to its owner (and staff) unless shared with everyone signed in
    shared = models.BooleanField(default=False, db_index=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    #: a design-automation flow this experiment is a step of: {"id", "name", "step", "steps": [{technique, config}]};
    #: when it succeeds, the next step is launched on the network it kept
    flow = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"{self.technique} #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def max_attempts(self) -> int:
        """How many times a job is run in all when its worker dies (FRONTIER_MAX_ATTEMPTS)."""
        return settings.FRONTIER_MAX_ATTEMPTS

    @property
    def duration_s(self) -> float | None:
        if not self.started_at:
            return None
        from django.utils import timezone

        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class Candidate(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="candidates")
    index = models.PositiveIntegerField()
    architecture = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    on_front = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["experiment", "index"]
        constraints = [models.UniqueConstraint(fields=["experiment", "index"], name="candidate_unique_index")]
        indexes = [models.Index(fields=["experiment", "on_front"])]

    def __str__(self) -> str:
        return f"{self.experiment_id}/{self.index}"


class SeriesPoint(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="series_points")
    name = models.CharField(max_length=100)
    step = models.FloatField()
    value = models.FloatField()

    class Meta:
        ordering = ["experiment", "name", "step", "id"]
        indexes = [models.Index(fields=["experiment", "name"])]


def _artifact_path(instance: "Artifact", filename: str) -> str:
    return f"experiments/{instance.experiment_id}/{filename}"


class Artifact(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="artifacts")
    candidate = models.ForeignKey(Candidate, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="artifacts")
    kind = models.CharField(max_length=20)
    file = models.FileField(upload_to=_artifact_path, max_length=500)
    caption = models.CharField(max_length=300, blank=True)
    group = models.CharField(max_length=60, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["experiment", "group", "id"]

    @property
    def is_image(self) -> bool:
        return self.kind in ("png", "gif")

    @property
    def filename(self) -> str:
        return self.file.name.rsplit("/", 1)[-1]

    @property
    def url(self) -> str:
        """Served by a view that checks who may see the experiment (there is no bare /media/ mount)."""
        from django.urls import reverse

        return reverse("artifact_file", args=[self.experiment_id, self.pk, self.filename])


class Network(models.Model):
    """A trained network (:mod:`engine.networks`): its spec, problem, dataset,
    metrics with their sources and parent, the experiment and candidate that
    made it; the files live in ``NETWORKS_DIR/<uid>/`` (``network.json``,
    ``weights.safetensors``, exports made on demand)."""

    uid = models.CharField(max_length=32, unique=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="networks")
    name = models.CharField(max_length=200)
    builder = models.CharField(max_length=40, db_index=True)
    spec = models.JSONField(default=dict)
    problem = models.JSONField(default=dict)
    problem_kind = models.CharField(max_length=40, db_index=True)
    dataset = models.CharField(max_length=100, blank=True, db_index=True)
    metrics = models.JSONField(default=dict, blank=True)
    preprocess = models.JSONField(default=dict, blank=True)
    #: copied out of ``metrics`` for sorting
    accuracy = models.FloatField(null=True, blank=True)
    params = models.BigIntegerField(null=True, blank=True)
    macs = models.BigIntegerField(null=True, blank=True)
    made_by = models.CharField(max_length=500, blank=True)
    technique = models.CharField(max_length=50, blank=True)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    #: the parent's uid as the network file names it (kept when the parent row is deleted)
    parent_uid = models.CharField(max_length=32, blank=True)
    parent_name = models.CharField(max_length=200, blank=True)
    experiment = models.ForeignKey(Experiment, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="networks")
    candidate = models.ForeignKey(Candidate, null=True, blank=True, on_delete=models.SET_NULL, related_name="networks")
    uploaded = models.BooleanField(default=False)
    #: the run's result (its best network), which a flow's next step takes
    primary = models.BooleanField(default=False)
    #: the network block by block (engine.networks.blocks), for drawing
    blocks = models.JSONField(default=list, blank=True)
    weights_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name


class NetworkLatency(models.Model):
    """A network's latency on a profile from one source (measured, lut, predictor, roofline)."""

    network = models.ForeignKey(Network, on_delete=models.CASCADE, related_name="latencies")
    hardware = models.ForeignKey(HardwareProfile, on_delete=models.CASCADE, related_name="network_latencies")
    source = models.CharField(max_length=40)
    latency_ms = models.FloatField()
    spread_ms = models.FloatField(null=True, blank=True)
    experiment = models.ForeignKey(Experiment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hardware", "source"]
        constraints = [models.UniqueConstraint(fields=["network", "hardware", "source"],
                                               name="network_latency_unique_source")]


class Lease(models.Model):
    """A named lock held until ``expires_at`` (database-level, so it works across
    processes and hosts): the reconciler takes ``reconciler`` before each pass so
    two web servers or workers never send the same job at once."""

    name = models.CharField(max_length=50, primary_key=True)
    holder = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder or 'nobody'} until {self.expires_at:%H:%M:%S}"
