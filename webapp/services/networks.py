"""Saved networks: adopting the ones a run kept, a user's upload, deletion,
exports made on demand, latency records and measuring on a profile.

Files live in ``NETWORKS_DIR/<uid>/`` (``network.json``, ``weights.safetensors``,
``model.onnx`` / ``model.pt`` once asked for), which is a folder the engine
reads as it is (a technique's ``network`` setting resolves to it). Every write
stages its files under a temporary name and renames them at the end, so a
failure leaves neither a row nor a file.
"""
from __future__ import annotations

import logging
import math
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from engine.networks import (META_FILE, WEIGHTS_FILE, Network as EngineNetwork, NetworkError, NetworkSpec,
                             SPLIT_FILES, SpecError, build_network, can_split, check_spec, check_tensors, export_onnx,
                             export_onnx_split, export_torchscript, read_network, read_safetensors, save_network)
from engine.outputs import NetworkLatencyOutput, NetworkOutput
from engine.problems import ImageClassification

from ..errors import ApplicationError
from ..safejson import text_problem
from ..models import Candidate, Experiment, Network, NetworkLatency
from .uploads import _check_size

__all__ = ["network_folder", "network_adopt", "network_upload", "network_delete", "network_export",
           "network_latency_record", "network_fields_resolve", "network_check_setting",
           "UPLOAD_ARCHITECTURES", "EXPORTS"]

#: format -> (file name in the folder, content type)
EXPORTS = {"safetensors": (WEIGHTS_FILE, "application/octet-stream"),
           "onnx": ("model.onnx", "application/octet-stream"),
           "torchscript": ("model.pt", "application/octet-stream"),
           # an encoder-decoder as HAT deploys it: the encoder, and one decoder step with its cache
           **{fmt: (name, "application/octet-stream") for fmt, name in SPLIT_FILES.items()},
           "json": (META_FILE, "application/json")}


def _upload_architectures() -> tuple[str, ...]:
    from engine.modelzoo.zoo import MODELS

    return tuple(MODELS)


UPLOAD_ARCHITECTURES = _upload_architectures()
log = logging.getLogger(__name__)


def network_folder(network: Network) -> Path:
    return Path(settings.NETWORKS_DIR) / network.uid


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def _row_fields(net: EngineNetwork) -> dict[str, Any]:
    m = net.metrics
    params, macs = _number(m.get("params")), _number(m.get("macs"))
    return {"uid": net.id, "name": net.name[:200], "builder": net.spec.builder, "spec": net.spec.to_dict(),
            "problem": net.problem.to_dict(), "problem_kind": net.problem.kind, "dataset": net.dataset[:100],
            "metrics": m, "preprocess": net.preprocess, "accuracy": _number(m.get("accuracy")),
            "params": int(params) if params is not None else None, "macs": int(macs) if macs is not None else None,
            "made_by": net.made_by[:500], "technique": net.technique[:50],
            "parent_uid": (net.parent or {}).get("id", "")[:32], "parent_name": (net.parent or {}).get("name", "")[:200]}


def _install(staging: Path, uid: str) -> Path:
    final = Path(settings.NETWORKS_DIR) / uid
    os.rename(staging, final)
    return final


def network_adopt(*, experiment_id: int, output: NetworkOutput, start_index: int = 0) -> Network:
    """Keep the network a run saved (files copied into NETWORKS_DIR, a row
    linked to its experiment, candidate and parent; its latencies from the
    run's metrics recorded on the run's profile)."""
    try:
        net = read_network(output.folder)
    except NetworkError as e:
        raise ApplicationError(f"The run's network is not readable: {e}") from None
    exp = Experiment.objects.select_related("hardware").get(pk=experiment_id)
    existing = Network.objects.filter(uid=net.id).first()
    if existing is not None:  # adopted already (a retried finish)
        return existing
    root = Path(settings.NETWORKS_DIR)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        for name in (META_FILE, WEIGHTS_FILE):
            shutil.copyfile(output.folder / name, staging / name)
        for name in SPLIT_FILES.values():  # an encoder-decoder's split ONNX, exported and checked by the run
            if (output.folder / name).is_file():
                shutil.copyfile(output.folder / name, staging / name)
        drawn = _blocks_of(staging)
        candidate = None
        if output.candidate is not None:
            candidate = Candidate.objects.filter(experiment=exp, index=output.candidate + start_index).first()
        with transaction.atomic():
            row = Network.objects.create(
                owner=exp.owner, experiment=exp, candidate=candidate,
                parent=Network.objects.filter(uid=(net.parent or {}).get("id", "")).first() if net.parent else None,
                weights_bytes=(staging / WEIGHTS_FILE).stat().st_size, blocks=drawn, primary=output.primary,
                **_row_fields(net))
            _record_run_latencies(row, exp, net.metrics)
            _install(staging, row.uid)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return row


def _record_run_latencies(row: Network, exp: Experiment, m: dict[str, Any]) -> None:
    for key in ("latency", "predicted_latency", "measured_latency"):
        ms, source = _number(m.get(f"{key}_ms")), m.get(f"{key}_source") or ("measured" if key == "measured_latency"
                                                                            else None)
        if ms is not None and isinstance(source, str) and source:
            spread = _number(m.get("latency_spread_ms")) if key == "latency" else None
            NetworkLatency.objects.update_or_create(network=row, hardware=exp.hardware, source=source[:40],
                                                    defaults={"latency_ms": ms, "spread_ms": spread,
                                                              "experiment": exp})


def network_latency_record(*, experiment_id: int, output: NetworkLatencyOutput) -> int:
    """A network-latency run's figures, kept beside the network; returns how many."""
    exp = Experiment.objects.select_related("hardware").get(pk=experiment_id)
    row = Network.objects.filter(uid=output.network).first()
    if row is None:
        return 0
    n = 0
    for e in output.estimates:
        ms = _number(e.get("latency_ms"))
        if ms is None or not isinstance(e.get("source"), str):
            continue
        NetworkLatency.objects.update_or_create(network=row, hardware=exp.hardware, source=e["source"][:40],
                                                defaults={"latency_ms": ms, "spread_ms": _number(e.get("spread_ms")),
                                                          "experiment": exp})
        n += 1
    return n


def _bad(field: str, message: str) -> ApplicationError:
    return ApplicationError("The network is not valid.", field_errors={field: message})


def _int_field(data: dict[str, Any], name: str, lo: int, hi: int, default: int | None = None) -> int:
    v = data.get(name, default)
    # a form field is text: at most 18 digits is converted (5,000 would make int() raise)
    if isinstance(v, str) and re.fullmatch(r"-?[0-9]{1,18}", v.strip()):
        v = int(v.strip())
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad(name, f"a whole number from {lo} to {hi}")
    return v


def network_upload(*, owner: AbstractBaseUser, data: dict[str, Any], weights: UploadedFile | None) -> Network:
    """A user's own network: a torchvision architecture name with its width,
    the class count and resolution it takes, an optional dataset, and a
    safetensors state dict whose every tensor must fit the architecture.
    Nothing is kept on any error."""
    from engine.data import DATASETS

    name = data.get("name", "")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise _bad("name", "a name of 1 to 200 characters")
    if why := text_problem(name):
        raise _bad("name", why)
    arch = data.get("architecture")
    if arch not in UPLOAD_ARCHITECTURES:
        raise _bad("architecture", f"one of {', '.join(UPLOAD_ARCHITECTURES)} (torchvision names)")
    width = data.get("width", 1.0)
    try:
        width = float(width)
    except (TypeError, ValueError):
        raise _bad("width", "a number such as 1.0") from None
    if not math.isfinite(width):
        raise _bad("width", "a number such as 1.0")
    classes = _int_field(data, "classes", 1, 100_000, 10)
    resolution = _int_field(data, "resolution", 16, 1024, 32)
    dataset = data.get("dataset") or ""
    if dataset and dataset not in DATASETS:
        raise _bad("dataset", f"empty or one of {', '.join(DATASETS)}")
    problem = ImageClassification(3, resolution, classes)
    try:
        spec = check_spec(NetworkSpec("torchvision", {"model": arch, "width": width}), problem)
    except SpecError as e:
        raise _bad("architecture" if e.field in ("model", "builder") else e.field, str(e)) from None
    if weights is None:
        raise _bad("weights", "attach the network's weights as a .safetensors file")
    fname = os.path.basename(weights.name or "")
    if not fname.lower().endswith(".safetensors"):
        raise _bad("weights", f"must be a .safetensors file, not {fname[:80]!r}")
    if not weights.size:
        raise _bad("weights", "the file is empty")
    _check_size(weights.size, settings.FRONTIER_MAX_WEIGHTS_UPLOAD, "The network is not valid.")
    root = Path(settings.NETWORKS_DIR)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        incoming = staging / "incoming.safetensors"
        with open(incoming, "wb") as fh:
            for chunk in weights.chunks():
                fh.write(chunk)
        try:
            tensors = read_safetensors(incoming, max_bytes=settings.FRONTIER_MAX_WEIGHTS_UPLOAD)
            module = build_network(spec, problem)
            check_tensors(module, tensors)
            module.load_state_dict(tensors)
        except NetworkError as e:
            raise _bad("weights", str(e)) from None
        except (RuntimeError, ValueError) as e:  # a tensor of a dtype the layer cannot take
            raise _bad("weights", f"the weights do not load into {arch}: {str(e)[:300]}") from None
        net = EngineNetwork(name=name.strip(), spec=spec, problem=problem, dataset=dataset,
                            made_by=f"uploaded by {owner.get_username()}", technique="upload",
                            metrics=_cost(module, problem))
        folder = save_network(module, net, staging, folder_name="net")
        with transaction.atomic():
            row = Network.objects.create(owner=owner, uploaded=True, blocks=_blocks_of(folder),
                                         weights_bytes=(folder / WEIGHTS_FILE).stat().st_size, **_row_fields(net))
            final = Path(settings.NETWORKS_DIR) / row.uid
            os.rename(folder, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return row


def _blocks_of(folder: Path) -> list[dict[str, Any]]:
    from engine.networks import blocks, load_network

    try:
        net, module = load_network(folder)
        return blocks(module, net.problem.example_inputs())
    except Exception:  # noqa: BLE001 - a network that cannot be drawn is still kept
        log.warning("could not draw the network in %s", folder, exc_info=True)
        return []


def _cost(module, problem) -> dict[str, Any]:
    from engine.hardware.cost import profile_model

    cost = profile_model(module.eval(), problem.example_inputs())
    return {"params": cost.params, "params_source": "cost model", "macs": cost.macs, "macs_source": "cost model"}


def network_delete(*, network: Network, user: AbstractBaseUser) -> None:
    if network.owner_id != user.pk and not user.is_staff:
        raise ApplicationError("Only the owner or staff can delete this network.", status=403)
    folder = network_folder(network)
    with transaction.atomic():
        network.delete()
    shutil.rmtree(folder, ignore_errors=True)


def network_export(*, network: Network, fmt: str) -> Path:
    """The file of ``network`` in ``fmt`` (safetensors, onnx, torchscript, json),
    made once, on first request, and kept in its folder: requests that come while
    it is being made wait for it (a lock on the folder) instead of each building it."""
    if fmt not in EXPORTS:
        raise ApplicationError("Unknown format.", field_errors={"format": f"one of {', '.join(EXPORTS)}"})
    folder = network_folder(network)
    path = folder / EXPORTS[fmt][0]
    if path.is_file():
        return path
    if fmt in ("safetensors", "json"):
        raise ApplicationError("The network's files are missing.", status=404)
    if not folder.is_dir():
        raise ApplicationError("The network's files are missing.", status=404)
    import fcntl

    with open(folder / ".export.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed, also if the process dies
        if path.is_file():  # made by the request that held the lock before
            return path
        failed = folder / f".{fmt}.failed"  # an export that failed once is not tried on every GET
        if failed.is_file():
            raise ApplicationError(failed.read_text(encoding="utf-8", errors="replace")[:600])
        try:
            return _export(network, folder, path, fmt)
        except ApplicationError as e:
            if e.status == 400:
                failed.write_text(e.message, encoding="utf-8")
            raise


def _export(network: Network, folder: Path, path: Path, fmt: str) -> Path:
    from engine.networks import load_network

    try:
        net, module = load_network(folder)
    except NetworkError as e:
        raise ApplicationError(f"The network cannot be loaded: {e}") from None
    tmp = folder / f".{uuid.uuid4().hex}{path.suffix}"
    if fmt in SPLIT_FILES:
        if not can_split(module):
            raise ApplicationError(f"{network.name} is not an encoder-decoder: it has no {fmt} export.")
        try:  # both files, checked, renamed into the folder when the check passes
            export_onnx_split(module, net.problem, folder)
        except Exception as e:  # noqa: BLE001 - an exporter's failure is the user's answer, not a 500
            raise ApplicationError(f"{network.name} cannot be exported as {fmt}: {str(e)[:300]}") from None
        return path
    try:
        if fmt == "onnx":
            export_onnx(module, net.problem.example_inputs(), tmp, net.problem)
        else:
            export_torchscript(module, net.problem.example_inputs(), tmp)
        os.replace(tmp, path)
    except Exception as e:  # noqa: BLE001 - an exporter's failure is the user's answer, not a 500
        raise ApplicationError(f"{network.name} cannot be exported as {fmt}: {str(e)[:300]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def network_check_setting(*, value: Any, owner: AbstractBaseUser, kinds: tuple[str, ...]) -> str | None:
    """The error of a ``network`` setting's value (a network id), or None."""
    row = _network_of(value)
    if row is None:
        return "must be the id of a saved network (GET /api/networks/)"
    if row.owner_id != owner.pk and not owner.is_staff:
        return "must be one of your networks"
    if row.problem_kind not in kinds:
        return f"{row.name} is a {row.problem_kind} network; this takes {' or '.join(kinds)}"
    return None


def _network_of(value: Any) -> Network | None:
    s = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
    if not s.isdigit() or len(s) > 18:
        return None
    return Network.objects.filter(pk=int(s)).first()


def network_fields_resolve(config: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The config with each network setting's id replaced by its folder (for the engine)."""
    out = dict(config)
    for key in names:
        if out.get(key):
            row = _network_of(out[key])
            out[key] = str(network_folder(row)) if row is not None else str(Path(settings.NETWORKS_DIR) / "missing")
    return out
