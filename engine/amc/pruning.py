"""Channel pruning that removes channels for real, through Torch-Pruning's
dependency graph (residual adds, depthwise groups, concatenations and the
classifier's input are kept consistent by the graph).

    plan = analyse(model, problem.example_inputs())           # the prunable groups, in execution order
    small = prune(model, plan, {g.name: 0.5 for g in plan.groups}, example_inputs=…, criterion="l1")

A *group* is a set of layers whose channels must go together (a convolution's
output channels, its batch norm, the next layer's input channels; in a
MobileNetV2 the expand 1x1, the depthwise 3x3 and the projection's input; in a
ResNet every block of a stage that adds into the same residual stream). One
decision is made per group: the fraction of its channels kept. Channel counts
are rounded to multiples of ``round_to``.

The cost of a policy is computed without building it (:meth:`PruningPlan.cost`):
every convolution and linear layer's MACs and weights scale with the kept
fraction of its input group and of its output group (a depthwise layer's input
and output are one group). A test checks it against the cost model of the
pruned module.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch import nn

from ..hardware.cost import profile_model

__all__ = ["Group", "PruningPlan", "analyse", "prune", "prune_to_channels", "CRITERIA", "PruningError",
           "kept_channels", "channel_scores"]

CRITERIA = ("l1", "l2")


class PruningError(ValueError):
    pass


@dataclass(frozen=True)
class Group:
    """One pruning decision: the group rooted at ``name`` (a conv or linear layer)."""

    index: int
    name: str
    kind: str  # "conv" | "depthwise" | "linear"
    channels: int
    in_channels: int
    stride: int
    kernel: int
    weight_size: int


@dataclass
class _Layer:
    name: str
    macs: int
    params: int
    out_group: int | None
    in_group: int | None
    depthwise: bool


@dataclass
class PruningPlan:
    groups: list[Group]
    layers: list[_Layer]
    total_macs: int
    total_params: int
    #: MACs and weights of layers no decision touches (norms, pooling, the stem's input side)
    other_macs: int = 0
    round_to: int = 8
    names: dict[str, int] = field(default_factory=dict)

    def keep(self, group: Group, ratio: float) -> int:
        """Channels kept at ``ratio``, rounded to a multiple of ``round_to`` (at least one multiple)."""
        r = self.round_to if group.channels >= 2 * self.round_to else 1
        k = int(round(group.channels * float(ratio) / r)) * r
        return int(min(group.channels, max(r, k)))

    def effective(self, ratios: Sequence[float]) -> list[float]:
        """The kept fractions after rounding."""
        return [self.keep(g, a) / g.channels for g, a in zip(self.groups, ratios)]

    def cost(self, ratios: Sequence[float], *, rounded: bool = True) -> dict[str, float]:
        """MACs and weights of the pruned network (conv and linear layers scaled,
        the rest as it was) for per-group kept ``ratios``."""
        r = self.effective(ratios) if rounded else [float(a) for a in ratios]
        macs = params = 0.0
        for lay in self.layers:
            f_out = r[lay.out_group] if lay.out_group is not None else 1.0
            f_in = r[lay.in_group] if lay.in_group is not None and not lay.depthwise else 1.0
            macs += lay.macs * f_out * f_in
            params += lay.params * f_out * f_in
        return {"macs": macs + self.other_macs, "params": params + (self.total_params - sum(
            lay.params for lay in self.layers))}

    def linear_in(self, t: int, ratios: Sequence[float], resource: str = "macs") -> tuple[float, float]:
        """The resource as ``a + b * r_t`` with every other group at ``ratios``
        (unrounded): what the action wall solves for group ``t``."""
        lo = list(ratios)
        lo[t] = 0.0
        hi = list(ratios)
        hi[t] = 1.0
        a = self.cost(lo, rounded=False)[resource]
        return a, self.cost(hi, rounded=False)[resource] - a


def _ignored(model: nn.Module) -> list[nn.Module]:
    """The classifier's output must keep its classes: the last linear layer."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1:]


def _graph(model: nn.Module, example_inputs: Sequence[torch.Tensor]):
    import torch_pruning as tp

    was = model.training
    model.eval()
    try:
        dg = tp.DependencyGraph().build_dependency(model, example_inputs=tuple(example_inputs))
    finally:
        model.train(was)
    return dg


def _root_groups(model: nn.Module, dg) -> list[Any]:
    return list(dg.get_all_groups(ignored_layers=_ignored(model), root_module_types=[nn.Conv2d, nn.Linear]))


def analyse(model: nn.Module, example_inputs: Sequence[torch.Tensor], *, round_to: int = 8) -> PruningPlan:
    """The prunable groups of ``model`` in execution order, and the per-layer
    table that prices a policy."""
    if round_to < 1:
        raise PruningError("round_to must be >= 1")
    names = {m: n for n, m in model.named_modules()}
    dg = _graph(model, example_inputs)
    cost = profile_model(model, example_inputs)
    order = {lc.name: i for i, lc in enumerate(cost.layers)}
    raw = []
    for grp in _root_groups(model, dg):
        root = grp[0].dep.target.module
        name = names.get(root, "")
        if not name or name not in order:
            continue
        members_out, members_in = [], []
        for dep, _ in grp:
            m = dep.target.module
            if m in names:
                (members_out if dg.is_out_channel_pruning_fn(dep.handler) else members_in).append(names[m])
        raw.append((order[name], name, root, members_out, members_in))
    raw.sort()
    groups: list[Group] = []
    owner_out: dict[str, int] = {}
    owner_in: dict[str, int] = {}
    for i, (_, name, root, outs, ins) in enumerate(raw):
        if isinstance(root, nn.Conv2d):
            dw = root.groups == root.in_channels and root.groups > 1
            groups.append(Group(i, name, "depthwise" if dw else "conv", root.out_channels, root.in_channels,
                                int(root.stride[0]), int(root.kernel_size[0]), root.weight.numel()))
        else:
            groups.append(Group(i, name, "linear", root.out_features, root.in_features, 1, 1, root.weight.numel()))
        for n in outs:
            owner_out.setdefault(n, i)
        for n in ins:
            owner_in.setdefault(n, i)
    if not groups:
        raise PruningError("the network has no prunable convolution or linear layer")
    layers = []
    mods = dict(model.named_modules())
    for lc in cost.layers:
        mod = mods.get(lc.name)
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            dw = isinstance(mod, nn.Conv2d) and mod.groups == mod.in_channels and mod.groups > 1
            layers.append(_Layer(lc.name, lc.macs, lc.params, owner_out.get(lc.name), owner_in.get(lc.name), dw))
        elif lc.name in owner_out:  # a norm of a pruned group: per channel, so it scales with the group
            layers.append(_Layer(lc.name, lc.macs, lc.params, owner_out[lc.name], None, True))
    other = cost.macs - sum(lay.macs for lay in layers)
    return PruningPlan(groups, layers, cost.macs, cost.params, other_macs=other, round_to=round_to,
                       names={g.name: g.index for g in groups})


def kept_channels(plan: PruningPlan, ratios: Sequence[float]) -> dict[str, int]:
    """``{group root name: channels kept}``: the pruned network's channel configuration."""
    return {g.name: plan.keep(g, a) for g, a in zip(plan.groups, ratios)}


def _root(model: nn.Module, root_name: str):
    import torch_pruning as tp

    modules = dict(model.named_modules())
    if root_name not in modules:
        raise PruningError(f"no layer {root_name!r} in the network")
    root = modules[root_name]
    handler = tp.prune_conv_out_channels if isinstance(root, nn.Conv2d) else tp.prune_linear_out_channels
    n = root.out_channels if isinstance(root, nn.Conv2d) else root.out_features
    return root, handler, n


def _scores(model: nn.Module, dg, root_name: str, criterion: str) -> torch.Tensor:
    import torch_pruning as tp

    root, handler, n = _root(model, root_name)
    grp = dg.get_pruning_group(root, handler, idxs=list(range(n)))
    return tp.importance.GroupMagnitudeImportance(p=1 if criterion == "l1" else 2)(grp)


def channel_scores(model: nn.Module, plan: PruningPlan, example_inputs: Sequence[torch.Tensor], *,
                   criterion: str = "l1") -> list[torch.Tensor]:
    """Each group's per-channel L1 / L2 norm over every layer of the group (what ``prune`` drops the smallest of)."""
    dg = _graph(model, example_inputs)
    return [_scores(model, dg, g.name, criterion) for g in plan.groups]


def _prune_group(model: nn.Module, dg, root_name: str, keep: int, criterion: str | None) -> None:
    root, handler, n = _root(model, root_name)
    if keep >= n:
        return
    if keep < 1:
        raise PruningError(f"{root_name}: at least one channel must stay")
    if criterion is None:  # rebuilding a saved structure: which channels does not matter
        drop = list(range(keep, n))
    else:
        drop = torch.argsort(_scores(model, dg, root_name, criterion))[: n - keep].tolist()
    grp = dg.get_pruning_group(root, handler, idxs=sorted(drop))
    if not dg.check_pruning_group(grp):
        raise PruningError(f"{root_name}: removing {n - keep} of {n} channels would leave a layer empty")
    grp.prune()


def prune_to_channels(model: nn.Module, channels: dict[str, int], example_inputs: Sequence[torch.Tensor], *,
                      criterion: str | None = "l1") -> nn.Module:
    """A pruned copy of ``model`` with each group root's output channels cut to
    ``channels[name]``: the channels with the smallest group L1 / L2 norm go
    (``criterion=None``: the last ones, to rebuild a saved structure)."""
    if criterion is not None and criterion not in CRITERIA:
        raise PruningError(f"criterion must be one of {', '.join(CRITERIA)}")
    m = copy.deepcopy(model)
    dg = _graph(m, example_inputs)
    for name, k in channels.items():
        _prune_group(m, dg, name, int(k), criterion)
    return m


def prune(model: nn.Module, plan: PruningPlan, ratios: Sequence[float], *, example_inputs: Sequence[torch.Tensor],
          criterion: str = "l1") -> nn.Module:
    """A pruned copy of ``model`` keeping ``ratios[i]`` of group i's channels."""
    if len(ratios) != len(plan.groups):
        raise PruningError(f"{len(ratios)} ratios for {len(plan.groups)} groups")
    return prune_to_channels(model, kept_channels(plan, ratios), example_inputs, criterion=criterion)
