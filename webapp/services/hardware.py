"""Hardware profile writes."""
from __future__ import annotations

import dataclasses
import re
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from engine.hardware.profile import HardwareProfile as EngineProfile
from engine.hardware.profile import ProfileError, builtin_profiles

from .. import safejson
from ..errors import ApplicationError
from ..models import HardwareProfile
from .uploads import upload_read

__all__ = ["hardware_profile_create", "hardware_profile_update", "hardware_profile_delete",
           "hardware_profiles_sync_builtin", "profile_to_engine", "PROFILE_FIELDS", "hardware_lookup_table_attach",
           "hardware_lookup_table_remove", "hardware_latency_predictor_attach", "lookup_table_info"]

#: fields a user may set on a profile, in form order (the engine profile's editable fields)
PROFILE_FIELDS = tuple(f.name for f in dataclasses.fields(EngineProfile) if f.metadata["editable"])


def profile_to_engine(hw: HardwareProfile, *, with_models: bool = False) -> EngineProfile:
    """The engine's profile; ``with_models`` attaches the profile's lookup table
    and latency predictor (the snapshot stored on an experiment leaves them out)."""
    return EngineProfile(
        lookup_table=hw.lookup_table if with_models else None,
        latency_predictor=hw.latency_model if with_models else None,
        name=hw.slug, title=hw.title, kind=hw.kind, peak_gmacs=dict(hw.peak_gmacs),
        memory_bandwidth_gbs=hw.memory_bandwidth_gbs, onchip_memory_kb=hw.onchip_memory_kb,
        memory_capacity_mb=hw.memory_capacity_mb, storage_mb=hw.storage_mb,
        layer_overhead_us=hw.layer_overhead_us, cores=hw.cores, bit_flexible=hw.bit_flexible,
        measurable=hw.measurable, source=hw.source, notes=hw.notes,
    )


def _validated(slug: str, data: dict[str, Any]) -> EngineProfile:
    unknown = sorted(set(data) - set(PROFILE_FIELDS))
    if unknown:
        raise ApplicationError("Unknown profile fields.", field_errors={k: "unknown field" for k in unknown})
    for text_field, limit in (("title", 200), ("source", 4000), ("notes", 4000)):
        if text_field in data and (not isinstance(data[text_field], str) or len(data[text_field]) > limit):
            raise ApplicationError("Invalid profile.", field_errors={text_field: f"text of at most {limit} characters"})
        if text_field in data and (why := safejson.text_problem(data[text_field])):
            raise ApplicationError("Invalid profile.", field_errors={text_field: why})
    if "title" in data and not data["title"].strip():
        raise ApplicationError("Invalid profile.", field_errors={"title": "required"})
    if "bit_flexible" in data and not isinstance(data["bit_flexible"], bool):
        raise ApplicationError("Invalid profile.", field_errors={"bit_flexible": "must be true or false"})
    if "cores" in data and (isinstance(data["cores"], bool) or not isinstance(data["cores"], int)):
        raise ApplicationError("Invalid profile.", field_errors={"cores": "must be a whole number"})
    try:
        return EngineProfile.from_dict({"name": slug, **data})
    except ProfileError as e:
        raise ApplicationError("Invalid profile.", field_errors=e.errors) from None


@transaction.atomic
def hardware_profile_create(*, owner: AbstractBaseUser, slug: str, data: dict[str, Any]) -> HardwareProfile:
    if not isinstance(slug, str) or not slug:
        raise ApplicationError("Invalid profile.", field_errors={"slug": "required"})
    # the model's SlugField is ASCII only: "café" would pass str.isalnum() and fail in full_clean()
    if not re.fullmatch(r"[-a-zA-Z0-9_]{1,60}", slug):
        raise ApplicationError("Invalid profile.", field_errors={"slug": "letters, digits, - and _ (at most 60)"})
    if HardwareProfile.objects.filter(slug=slug).exists():
        raise ApplicationError("Invalid profile.", field_errors={"slug": f"a profile named {slug!r} exists"})
    if "title" not in data:
        raise ApplicationError("Invalid profile.", field_errors={"title": "required"})
    prof = _validated(slug, data)
    obj = HardwareProfile(slug=slug, owner=owner, builtin=False)
    _copy(prof, obj)
    obj.measurable = False
    obj.full_clean()
    obj.save()
    return obj


def _copy(prof: EngineProfile, obj: HardwareProfile) -> None:
    for f in PROFILE_FIELDS:
        setattr(obj, f, getattr(prof, f))
    obj.measurable = prof.measurable


def _check_owner(hw: HardwareProfile, user: AbstractBaseUser) -> None:
    if hw.builtin and not user.is_staff:
        raise ApplicationError("Built-in profiles can only be changed by staff.", status=403)
    if not hw.builtin and hw.owner_id != user.pk and not user.is_staff:
        raise ApplicationError("Only the owner or staff can change this profile.", status=403)


@transaction.atomic
def hardware_profile_update(*, profile: HardwareProfile, user: AbstractBaseUser, data: dict[str, Any]) -> HardwareProfile:
    _check_owner(profile, user)
    current = {f: getattr(profile, f) for f in PROFILE_FIELDS}
    current.update(data)
    prof = _validated(profile.slug, current)
    measurable = profile.measurable
    _copy(prof, profile)
    profile.measurable = measurable
    profile.save()
    return profile


@transaction.atomic
def hardware_profile_delete(*, profile: HardwareProfile, user: AbstractBaseUser) -> None:
    _check_owner(profile, user)
    if profile.builtin:
        raise ApplicationError("Built-in profiles cannot be deleted.")
    if profile.experiments.exists():
        raise ApplicationError("Experiments use this profile; delete them first.")
    profile.delete()


@transaction.atomic
def hardware_profiles_sync_builtin() -> int:
    """Create or refresh the built-in profiles from the engine's catalogue."""
    n = 0
    for prof in builtin_profiles():
        obj, _ = HardwareProfile.objects.get_or_create(
            slug=prof.name, defaults={"memory_bandwidth_gbs": prof.memory_bandwidth_gbs,
                                      "memory_capacity_mb": prof.memory_capacity_mb})
        _copy(prof, obj)
        obj.builtin = True
        obj.save()
        n += 1
    return n


@transaction.atomic
def hardware_lookup_table_attach(*, profile: HardwareProfile, user: AbstractBaseUser | None,
                                 data: UploadedFile | bytes | str | dict) -> HardwareProfile:
    """Validate a lookup table (the device agent's JSON, or a once-for-all /
    ProxylessNAS table; an uploaded file is size-checked before it is read)
    and attach it to ``profile``; ``user`` None means the system (a
    latency-model experiment)."""
    from django.conf import settings
    from django.utils import timezone

    from engine.hardware import LutError, validate_lut_json

    if user is not None:
        _check_owner(profile, user)
    data = upload_read(data, limit=settings.FRONTIER_MAX_LUT_UPLOAD, message="Lookup table too large.")
    try:  # nesting, NUL and NaN checked before the engine walks it (a table 5,000 levels deep was a 500)
        data = safejson.loads(data) if isinstance(data, (bytes, str)) else (safejson.check(data) or data)
    except safejson.UnsafeJSON as e:
        raise ApplicationError("Invalid lookup table.", field_errors={
            "file": f"{e.message}{f' at {e.path}' if e.path else ''}"}) from None
    try:
        table = validate_lut_json(data)
    except LutError as e:
        raise ApplicationError("Invalid lookup table.", field_errors={"file": str(e)}) from None
    profile.lookup_table = table.to_json()
    profile.lookup_table_uploaded_at = timezone.now()
    profile.save(update_fields=["lookup_table", "lookup_table_uploaded_at", "updated_at"])
    return profile


@transaction.atomic
def hardware_latency_predictor_attach(*, profile: HardwareProfile, data: bytes | str | dict,
                                      experiment=None) -> HardwareProfile:
    from engine.hardware import PredictorError, validate_predictor_json

    try:
        validate_predictor_json(data)
    except PredictorError as e:
        raise ApplicationError("Invalid latency predictor.", field_errors={"file": str(e)}) from None
    import json

    profile.latency_model = json.loads(data) if isinstance(data, (bytes, str)) else data
    profile.latency_model_experiment = experiment
    profile.save(update_fields=["latency_model", "latency_model_experiment", "updated_at"])
    return profile


@transaction.atomic
def hardware_lookup_table_remove(*, profile: HardwareProfile, user: AbstractBaseUser) -> HardwareProfile:
    _check_owner(profile, user)
    profile.lookup_table = None
    profile.lookup_table_uploaded_at = None
    profile.save(update_fields=["lookup_table", "lookup_table_uploaded_at", "updated_at"])
    return profile


def lookup_table_info(profile: HardwareProfile) -> dict[str, Any] | None:
    """What the profile page shows about an attached table."""
    if not profile.lookup_table:
        return None
    meta = profile.lookup_table.get("meta", {})
    return {"entries": len(profile.lookup_table.get("entries", {})),
            "samples": len(profile.lookup_table.get("samples", [])), **meta}
