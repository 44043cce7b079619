"""Network builders: a builder name plus JSON arguments rebuild a module
without pickle.

A :class:`NetworkSpec` is ``{"builder": name, "args": {...}}``. Each builder
checks its arguments (``check(args, problem)`` returns them normalised or
raises :class:`SpecError` naming the argument) and builds a freshly
initialised module for a problem (``build(args, problem)``); the weights come
from the network's safetensors file afterwards.

Built in:

- ``torchvision``: a torchvision classifier of the model zoo,
  ``{"model": "mobilenet_v2", "width": 0.5}`` (3-channel images; the
  resolution is the problem's ``size``).
- ``space``: an architecture of a registered search space,
  ``{"space": "mbconv", "params": {...}, "arch": {...}}``.
- ``mobilenet``: the MobileNetV2-style network of :mod:`engine.tinytl.mobilenet`,
  ``{"arch": MobileNetArch.to_dict() without num_classes / in_channels}``.

Later techniques register theirs (a pruned channel configuration, a per-layer
bit assignment) with :func:`register_builder`.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable

from torch import nn

from ..problems import ImageClassification, Problem
from ..registry import Registry

__all__ = ["NetworkSpec", "Builder", "SpecError", "builders", "register_builder", "build_network", "check_spec"]

#: bound on the JSON size of a spec's arguments (an architecture is a few KB)
MAX_ARGS_BYTES = 64_000


class SpecError(ValueError):
    """A spec that cannot be built; ``field`` names the argument."""

    def __init__(self, message: str, field: str = "spec"):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NetworkSpec:
    builder: str
    args: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"builder": self.builder, "args": self.args}

    @classmethod
    def from_dict(cls, d: Any) -> "NetworkSpec":
        if not isinstance(d, dict) or not isinstance(d.get("builder"), str) or not isinstance(d.get("args", {}), dict):
            raise SpecError("a network spec is an object {\"builder\": name, \"args\": {...}}")
        extra = sorted(set(d) - {"builder", "args"})
        if extra:
            raise SpecError(f"unknown fields of a network spec: {', '.join(map(str, extra))[:200]}")
        try:
            size = len(json.dumps(d.get("args", {}), allow_nan=False))
        except (TypeError, ValueError) as e:
            raise SpecError(f"the spec's arguments are not plain JSON: {e}", "args") from None
        if size > MAX_ARGS_BYTES:
            raise SpecError(f"the spec's arguments are {size:,} bytes of JSON; at most {MAX_ARGS_BYTES:,}", "args")
        return cls(d["builder"], dict(d.get("args", {})))


@dataclass(frozen=True)
class Builder:
    name: str
    title: str
    #: (args, problem) -> normalised args; raises SpecError
    check: Callable[[dict[str, Any], Problem], dict[str, Any]]
    #: (normalised args, problem) -> a freshly initialised module
    build: Callable[[dict[str, Any], Problem], nn.Module]
    #: one line of text for lists and pages
    describe: Callable[[dict[str, Any]], str]
    problem_kinds: tuple[str, ...] = ("image-classification",)


builders: Registry[Builder] = Registry("network builder", builtins=False)


def register_builder(builder: Builder) -> Builder:
    return builders.add(builder.name, builder)


def check_spec(spec: NetworkSpec, problem: Problem) -> NetworkSpec:
    """``spec`` with its arguments normalised, or :class:`SpecError`."""
    if spec.builder not in builders:
        raise SpecError(f"unknown network builder {spec.builder[:60]!r}; known: {', '.join(builders.names())}",
                        "builder")
    b = builders.get(spec.builder)
    if problem.kind not in b.problem_kinds:
        raise SpecError(f"the {b.name} builder makes {', '.join(b.problem_kinds)} networks, not {problem.kind}",
                        "problem")
    return NetworkSpec(b.name, b.check(dict(spec.args), problem))


def build_network(spec: NetworkSpec, problem: Problem) -> nn.Module:
    """A freshly initialised module of ``spec`` for ``problem`` (arguments checked)."""
    spec = check_spec(spec, problem)
    return builders.get(spec.builder).build(spec.args, problem)


def _only(args: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(args) - allowed)
    if extra:
        raise SpecError(f"unknown arguments: {', '.join(map(str, extra))[:200]} (allowed: {', '.join(sorted(allowed))})",
                        str(extra[0])[:60])


# -- torchvision -----------------------------------------------------------------

def _tv_check(args: dict[str, Any], problem: Problem) -> dict[str, Any]:
    from ..modelzoo.zoo import MODELS, WidthError, supports_width, width_support

    _only(args, {"model", "width"})
    model = args.get("model")
    if not isinstance(model, str) or model not in MODELS:
        raise SpecError(f"unknown torchvision architecture {str(model)[:60]!r}; one of {', '.join(MODELS)}", "model")
    width = args.get("width", 1.0)
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not math.isfinite(width):
        raise SpecError("width must be a number", "width")
    if not supports_width(model, float(width)):
        raise SpecError(str(WidthError(f"{model} has no width {width:g}: {width_support(model)}")), "width")
    assert isinstance(problem, ImageClassification)
    if problem.channels != 3:
        raise SpecError(f"torchvision classifiers take 3-channel images, not {problem.channels}", "problem")
    return {"model": model, "width": float(width)}


def _tv_build(args: dict[str, Any], problem: Problem) -> nn.Module:
    from ..modelzoo.zoo import build_model

    assert isinstance(problem, ImageClassification)
    return build_model(args["model"], width=args["width"], num_classes=problem.classes)


register_builder(Builder("torchvision", "torchvision classifier", _tv_check, _tv_build,
                         lambda a: f"{a['model']} at width {a['width']:g}"))


# -- an architecture of a registered search space -----------------------------------

def space_of(args: dict[str, Any]):
    """The search space a ``space`` spec's arguments name, with its params."""
    from ..registry import spaces

    name = args.get("space")
    if not isinstance(name, str) or name not in spaces:
        raise SpecError(f"unknown search space {str(name)[:60]!r}; known: {', '.join(spaces.names())}", "space")
    params = args.get("params", {})
    if not isinstance(params, dict):
        raise SpecError("params must be an object of the space's settings", "params")
    try:
        return spaces.get(name)(**params)
    except (TypeError, ValueError) as e:
        raise SpecError(f"the {name} space refuses these params: {e}", "params") from None


def _space_check(args: dict[str, Any], problem: Problem) -> dict[str, Any]:
    _only(args, {"space", "params", "arch"})
    space = space_of(args)
    arch = args.get("arch")
    if not isinstance(arch, dict):
        raise SpecError("arch must be an object (an architecture of the space)", "arch")
    try:
        space.check_problem(problem)
        arch = space.validate(arch)
    except (KeyError, TypeError, ValueError) as e:
        raise SpecError(f"not an architecture of the {args['space']} space: {e}", "arch") from None
    return {"space": args["space"], "params": space.params(), "arch": arch}


def _space_build(args: dict[str, Any], problem: Problem) -> nn.Module:
    return space_of(args).build(args["arch"], problem)


def _space_describe(args: dict[str, Any]) -> str:
    try:
        return f"{args['space']}: " + space_of(args).describe(args["arch"])
    except (SpecError, KeyError, TypeError, ValueError):
        return f"an architecture of the {args.get('space')} space"


register_builder(Builder("space", "architecture of a search space", _space_check, _space_build, _space_describe,
                         problem_kinds=("image-classification", "sequence-to-sequence")))  # the space checks its own


# -- the MobileNetV2-style network of TinyTL ---------------------------------------------

def _mobilenet_check(args: dict[str, Any], problem: Problem) -> dict[str, Any]:
    from ..tinytl.mobilenet import MobileNetArch

    _only(args, {"arch"})
    a = args.get("arch")
    if not isinstance(a, dict):
        raise SpecError("arch must be an object (MobileNetArch fields)", "arch")
    try:
        arch = MobileNetArch.from_dict({k: v for k, v in a.items() if k not in ("num_classes", "in_channels")})
        if not 0.1 <= float(arch.width_mult) <= 4 or not arch.settings or len(arch.settings) > 64:
            raise ValueError("width_mult from 0.1 to 4 and 1 to 64 rows of settings")
    except (TypeError, ValueError) as e:
        raise SpecError(f"not a MobileNet architecture: {e}", "arch") from None
    d = arch.to_dict()
    d.pop("num_classes"), d.pop("in_channels")
    return {"arch": d}


def mobilenet_arch(args: dict[str, Any], problem: Problem):
    from ..tinytl.mobilenet import MobileNetArch

    assert isinstance(problem, ImageClassification)
    return MobileNetArch.from_dict({**args["arch"], "num_classes": problem.classes, "in_channels": problem.channels})


def _mobilenet_build(args: dict[str, Any], problem: Problem) -> nn.Module:
    from ..tinytl.mobilenet import build_mobilenet

    return build_mobilenet(mobilenet_arch(args, problem))


register_builder(Builder("mobilenet", "MobileNetV2-style network", _mobilenet_check, _mobilenet_build,
                         lambda a: f"MobileNet, width {a['arch'].get('width_mult', 1):g}, "
                                   f"{sum(int(r[2]) for r in a['arch'].get('settings', []))} blocks"))


# -- a TinyTL-adapted MobileNet: the method's trainable parts and memory-efficient layers -----------

_TINYTL_METHODS = ("ft-full", "ft-last", "ft-norm-last", "tinytl-b", "tinytl-lb")


def _tinytl_check(args: dict[str, Any], problem: Problem) -> dict[str, Any]:
    from ..tinytl.lite_residual import LiteSpec

    _only(args, {"arch", "method", "lite", "efficient", "int8"})
    base = _mobilenet_check({"arch": args.get("arch")}, problem)
    method = args.get("method")
    if method not in _TINYTL_METHODS:
        raise SpecError(f"method must be one of {', '.join(_TINYTL_METHODS)}", "method")
    lite = args.get("lite", {})
    try:
        spec = LiteSpec(**lite)
        if not (1 <= spec.kernel <= 9 and spec.kernel % 2 and 1 <= spec.groups <= 64):
            raise ValueError("kernel odd from 1 to 9, groups 1 to 64")
    except (TypeError, ValueError) as e:
        raise SpecError(f"bad lite residual settings: {e}", "lite") from None
    from dataclasses import asdict

    return {**base, "method": method, "lite": asdict(spec), "efficient": bool(args.get("efficient", True)),
            "int8": bool(args.get("int8", False))}


def _tinytl_build(args: dict[str, Any], problem: Problem) -> nn.Module:
    import torch

    from ..tinytl.lite_residual import LiteSpec
    from ..tinytl.methods import prepare
    from ..tinytl.mobilenet import build_mobilenet

    assert isinstance(problem, ImageClassification)
    return prepare(build_mobilenet(mobilenet_arch(args, problem)), args["method"], efficient=args["efficient"],
                   int8=args["int8"], lite=LiteSpec(**args["lite"]),
                   input_shape=(problem.channels, problem.size, problem.size), generator=torch.Generator())


register_builder(Builder("tinytl", "TinyTL-adapted MobileNet", _tinytl_check, _tinytl_build,
                         lambda a: f"MobileNet adapted with {a['method']}"
                                   + (" (memory-efficient layers)" if a.get("efficient") else "")))


# -- a network with channels removed (AMC): its base network's spec and the channels kept per group ---------

def _pruned_check(args: dict[str, Any], problem: Problem) -> dict[str, Any]:
    _only(args, {"base", "channels"})
    try:
        base = check_spec(NetworkSpec.from_dict(args.get("base")), problem)
    except SpecError as e:
        raise SpecError(f"base: {e}", "base") from None
    if base.builder == "pruned":
        raise SpecError("base: prune the original network again instead of a pruned one", "base")
    ch = args.get("channels")
    if not isinstance(ch, dict) or not ch or len(ch) > 2000:
        raise SpecError("channels must be an object {layer name: channels kept}", "channels")
    for k, v in ch.items():
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1_000_000:
            raise SpecError(f"channels: {str(k)[:60]} must keep a whole number of channels >= 1", "channels")
    return {"base": base.to_dict(), "channels": dict(ch)}


def _pruned_build(args: dict[str, Any], problem: Problem) -> nn.Module:
    from ..amc.pruning import PruningError, prune_to_channels

    base = build_network(NetworkSpec.from_dict(args["base"]), problem)
    try:
        return prune_to_channels(base.eval(), args["channels"], problem.example_inputs(), criterion=None)
    except PruningError as e:
        raise SpecError(f"channels: {e}", "channels") from None


register_builder(Builder("pruned", "pruned network", _pruned_check, _pruned_build,
                         lambda a: f"{builders.get(a['base']['builder']).describe(a['base']['args'])}, "
                                   f"{len(a['channels'])} layer groups pruned"
                         if a.get("base", {}).get("builder") in builders else "pruned network"))


# -- a mixed-precision network (HAQ): its base network's spec and the bits of every conv / linear layer ------------

def _quantized_check(args: dict[str, Any], problem: Problem) -> dict[str, Any]:
    _only(args, {"base", "policy", "mode", "per_channel"})
    try:
        base = check_spec(NetworkSpec.from_dict(args.get("base")), problem)
    except SpecError as e:
        raise SpecError(f"base: {e}", "base") from None
    pol = args.get("policy")
    if not isinstance(pol, list) or not pol or len(pol) > 5000 or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(b, int) and not isinstance(b, bool)
                                                          and 1 <= b <= 32 for b in p) for p in pol):
        raise SpecError("policy must be a list of [weight bits, activation bits], each 1 to 32", "policy")
    mode = args.get("mode", "linear")
    if mode not in ("linear", "kmeans"):
        raise SpecError("mode must be linear or kmeans", "mode")
    return {"base": base.to_dict(), "policy": pol, "mode": mode, "per_channel": bool(args.get("per_channel", False))}


def _quantized_build(args: dict[str, Any], problem: Problem) -> nn.Module:
    from ..haq.quant import quantizable_layers, quantize

    base = build_network(NetworkSpec.from_dict(args["base"]), problem).eval()
    layers = quantizable_layers(base, problem.example_inputs())
    if len(layers) != len(args["policy"]):
        raise SpecError(f"policy: {len(args['policy'])} bit pairs for {len(layers)} layers", "policy")
    return quantize(base, layers, [tuple(p) for p in args["policy"]], [], mode=args["mode"], fit=False,
                    per_channel=args["per_channel"])


register_builder(Builder("quantized", "mixed-precision network", _quantized_check, _quantized_build,
                         lambda a: f"mixed precision ({a.get('mode', 'linear')}), "
                                   f"mean {sum(p[0] for p in a['policy']) / max(1, len(a['policy'])):.1f} weight bits"))


# -- the hierarchical pose forecaster (video-forecast) and its ablations -----------------------------------------

def _pose_forecast_check(args: dict[str, Any], problem: Problem) -> dict[str, Any]:
    from ..forecast.pose_model import VARIANTS

    _only(args, {"variant", "hidden", "image_size", "link_distance", "link_speed", "pairwise"})
    if args.get("variant", "hierarchical") not in VARIANTS:
        raise SpecError(f"variant must be one of {', '.join(VARIANTS)}", "variant")
    out: dict[str, Any] = {"variant": args.get("variant", "hierarchical")}
    if not isinstance(args.get("pairwise", True), bool):
        raise SpecError("pairwise must be true or false (the group level reads where the others are and how "
                        "they move relative to one, or only their states)", "pairwise")
    out["pairwise"] = args.get("pairwise", True)
    for k, lo, hi, default in (("hidden", 1, 4096, 64), ("image_size", 8, 4096, 64)):
        v = args.get(k, default)
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise SpecError(f"{k} must be a whole number from {lo} to {hi}", k)
        out[k] = v
    for k, default in (("link_distance", 0.75), ("link_speed", 0.04)):
        v = args.get(k, default)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 < v <= 100:
            raise SpecError(f"{k} must be a number in (0, 100]", k)
        out[k] = float(v)
    if problem.dims != 2 or problem.joints != 17:
        raise SpecError("the pose forecaster takes COCO-17 keypoints in 2-D (joints 17, dims 2)", "problem")
    return out


def _pose_forecast_build(args: dict[str, Any], problem: Problem) -> nn.Module:
    from ..forecast.pose_model import HierarchicalPoseModel

    return HierarchicalPoseModel(future=problem.future_frames, **args)


register_builder(Builder("pose-forecast", "hierarchical pose forecaster", _pose_forecast_check, _pose_forecast_build,
                         lambda a: f"pose forecaster ({a.get('variant', 'hierarchical')}, {a.get('hidden', 64)} units)",
                         problem_kinds=("pose-forecast",)))


# -- the video-forecast renderer (forecast poses -> frames) and the direct pixel predictor ---------------------

def _video_forecast_check(args: dict[str, Any], problem: Problem) -> dict[str, Any]:
    _only(args, {"model", "width", "hidden"})
    model = args.get("model")
    if model not in ("renderer", "pixel-convgru"):
        raise SpecError("model must be renderer or pixel-convgru", "model")
    out: dict[str, Any] = {"model": model}
    for k, default in (("width", 24), ("hidden", 32)):
        v = args.get(k, default)
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 1024:
            raise SpecError(f"{k} must be a whole number from 1 to 1024", k)
        out[k] = v
    if problem.channels != 3 or problem.size % 4:
        raise SpecError("the video models take RGB frames whose side is a multiple of 4", "problem")
    if (model == "renderer") != (problem.people > 0):
        raise SpecError("the renderer takes people's poses (people > 0); the pixel predictor takes frames only",
                        "problem")
    return out


def _video_forecast_build(args: dict[str, Any], problem: Problem) -> nn.Module:
    from ..forecast.render_model import PixelConvGRU, PoseVideoRenderer

    if args["model"] == "renderer":
        return PoseVideoRenderer(width=args["width"])
    return PixelConvGRU(future=problem.future_frames, width=args["width"], hidden=args["hidden"])


register_builder(Builder("video-forecast", "video forecaster", _video_forecast_check, _video_forecast_build,
                         lambda a: "adaptive-appearance renderer" if a.get("model") == "renderer"
                         else "ConvGRU next-frame predictor", problem_kinds=("video-forecast",)))
