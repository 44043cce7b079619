"""Networks as results: a spec that rebuilds the module without pickle,
safetensors weights, the problem and dataset, metrics with their sources and
the parent network (see :mod:`.store`, :mod:`.builders`, :mod:`.export`).

A technique keeps a trained network with :func:`keep_network`, which saves it
into the reporter's workdir and hands it over as a
:class:`~engine.outputs.NetworkOutput` (the dashboard stores it as a
``Network`` row, the CLI in the results folder's ``networks/``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from ..outputs import NetworkOutput
from ..problems import Problem
from .builders import (Builder, NetworkSpec, SpecError, build_network, builders, check_spec,  # noqa: F401
                       register_builder)
from .export import (EXPORT_FORMATS, SPLIT_FILES, SplitExportError, blocks, can_split, export_model,  # noqa: F401
                     export_onnx, export_onnx_split, export_torchscript)
from .store import (META_FILE, WEIGHTS_FILE, Network, NetworkError, NetworkMismatch, check_tensors,  # noqa: F401
                    list_networks, load_network, read_network, read_safetensors, save_network, slugify)

__all__ = ["Network", "NetworkSpec", "NetworkError", "NetworkMismatch", "SpecError", "Builder", "builders",
           "register_builder", "build_network", "check_spec", "save_network", "load_network", "read_network",
           "read_safetensors", "check_tensors", "list_networks", "export_onnx", "export_torchscript",
           "export_model", "export_onnx_split", "can_split", "SPLIT_FILES", "SplitExportError", "blocks", "keep_network", "load_network_setting", "parent_of", "EXPORT_FORMATS",
           "META_FILE", "WEIGHTS_FILE", "slugify"]


def parent_of(network: Network | None) -> dict[str, str] | None:
    """The ``parent`` reference of a network made from ``network``."""
    return None if network is None else {"id": network.id, "name": network.name}


def keep_network(reporter: Any, module: nn.Module, *, name: str, spec: NetworkSpec | dict, problem: Problem,
                 dataset: str = "", metrics: dict[str, Any] | None = None, made_by: str = "", technique: str = "",
                 parent: Network | None = None, candidate: int | None = None,
                 preprocess: dict[str, Any] | None = None, network_id: str | None = None,
                 primary: bool = False, split_onnx: bool = False) -> Network:
    """Save ``module`` as a network in the reporter's workdir and report it
    (``reporter.output``); ``candidate`` links it to a reported candidate.
    Params and MACs from the cost model are added to its metrics.
    ``network_id`` keeps a known id (a network cached and kept again is one network); ``primary``
    marks the run's result (what a design flow's next step takes). ``split_onnx``
    (an encoder-decoder): its encoder and one decoder step are exported as ONNX
    into the folder beside the weights (:func:`export_onnx_split`, checked;
    the check's figures join the metrics; an export that fails its check is
    left out and the metrics say why)."""
    import shutil
    import tempfile

    from ..hardware.cost import profile_model

    spec = spec if isinstance(spec, NetworkSpec) else NetworkSpec.from_dict(spec)
    m = dict(metrics or {})
    if "params" not in m or "macs" not in m:
        was = module.training
        cost = profile_model(module.eval(), problem.example_inputs())
        module.train(was)
        m.setdefault("params", cost.params)
        m.setdefault("macs", cost.macs)
    net = Network(name=name, spec=spec, problem=problem, dataset=dataset, metrics=m, made_by=made_by,
                  technique=technique, parent=parent_of(parent), preprocess=dict(preprocess or {}))
    if network_id:
        net.id = network_id
    parent_dir = Path(reporter.workdir) / "networks"
    split_dir = None
    if split_onnx:
        parent_dir.mkdir(parents=True, exist_ok=True)
        split_dir = Path(tempfile.mkdtemp(prefix=".split-", dir=parent_dir))
        was = module.training
        try:
            check = export_onnx_split(module, problem, split_dir)
            m["onnx_split"] = "encoder.onnx + decoder_step.onnx (onnx.checker passed)"
            if check["onnxruntime_max_abs_diff"] is not None:
                m["onnx_split_max_abs_diff"] = check["onnxruntime_max_abs_diff"]
                m["onnx_split_max_abs_diff_source"] = f"onnxruntime {check['onnxruntime']} against PyTorch"
        except Exception as e:  # noqa: BLE001 - the network is kept; its split export is not (the metrics say why)
            m["onnx_split"] = f"not exported: {str(e)[:300]}"
        finally:
            module.train(was)
        net.metrics = m
    try:
        folder = save_network(module, net, parent_dir)
        if split_dir is not None:
            for name in SPLIT_FILES.values():
                if (split_dir / name).is_file():
                    (split_dir / name).replace(folder / name)
    finally:
        if split_dir is not None:
            shutil.rmtree(split_dir, ignore_errors=True)
    reporter.output(NetworkOutput(meta=folder / META_FILE, weights=folder / WEIGHTS_FILE, candidate=candidate,
                                  primary=primary))
    return net


def load_network_setting(value: str, *, kinds: tuple[str, ...] = ("image-classification",),
                         setting: str = "network") -> tuple[Network, nn.Module]:
    """The network a technique's ``network`` setting names (a saved network
    folder), checked to be of one of ``kinds``; a clear :class:`ValueError`
    naming the setting otherwise."""
    try:
        net, module = load_network(Path(value).expanduser())
    except NetworkError as e:
        raise ValueError(f"{setting}: {e}") from None
    if net.problem.kind not in kinds:
        raise ValueError(f"{setting}: {net.name} is a {net.problem.kind} network; this needs {' or '.join(kinds)}")
    return net, module
