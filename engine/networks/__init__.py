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
from .export import EXPORT_FORMATS, blocks, export_model, export_onnx, export_torchscript  # noqa: F401
from .store import (META_FILE, WEIGHTS_FILE, Network, NetworkError, NetworkMismatch, check_tensors,  # noqa: F401
                    list_networks, load_network, read_network, read_safetensors, save_network, slugify)

__all__ = ["Network", "NetworkSpec", "NetworkError", "NetworkMismatch", "SpecError", "Builder", "builders",
           "register_builder", "build_network", "check_spec", "save_network", "load_network", "read_network",
           "read_safetensors", "check_tensors", "list_networks", "export_onnx", "export_torchscript",
           "export_model", "blocks", "keep_network", "load_network_setting", "parent_of", "EXPORT_FORMATS",
           "META_FILE", "WEIGHTS_FILE", "slugify"]


def parent_of(network: Network | None) -> dict[str, str] | None:
    """The ``parent`` reference of a network made from ``network``."""
    return None if network is None else {"id": network.id, "name": network.name}


def keep_network(reporter: Any, module: nn.Module, *, name: str, spec: NetworkSpec | dict, problem: Problem,
                 dataset: str = "", metrics: dict[str, Any] | None = None, made_by: str = "", technique: str = "",
                 parent: Network | None = None, candidate: int | None = None,
                 preprocess: dict[str, Any] | None = None, network_id: str | None = None,
                 primary: bool = False) -> Network:
    """Save ``module`` as a network in the reporter's workdir and report it
    (``reporter.output``); ``candidate`` links it to a reported candidate.
    Params and MACs from the cost model are added to its metrics.
    ``network_id`` keeps a known id (a network cached and kept again is one network); ``primary``
    marks the run's result (what a design flow's next step takes)."""
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
    folder = save_network(module, net, Path(reporter.workdir) / "networks")
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
