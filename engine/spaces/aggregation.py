"""The feature-aggregation space: from ResNet (sum) to DenseNet (concatenate
all) to SparseNet (concatenate at exponential offsets), after Zhu, Deng,
Maire, Deng, Mori, Tan, *Sparsely Aggregated Convolutional Networks*, ECCV 2018
(arXiv:1801.05895). The layers are in :mod:`engine.nn.aggregation`.

An architecture is a JSON dict, one entry per stage (a block of layers at one
resolution) and one per transition between stages::

    {"depths": [layers per block], "growths": [growth rate k per block],
     "rules": ["concat-all" | "concat-exp" | "sum-all" | "sum-exp" per block],
     "bottleneck": [true / false per block (BC: a 1x1 conv to 4k first)],
     "compressions": [theta per transition]}        # len = stages - 1

The stem is a 3x3 convolution to ``stem_mult * growths[0]`` channels (2k, as
the reference code does for every network: with it the counts match the
paper's table). :func:`paper_arch` turns a paper name (depth L, growth rates,
BC) into an architecture; :data:`PAPER_PRESETS` holds the table's networks,
:data:`SMALL_PRESETS` scaled-down ones that train on a CPU in minutes.

Op keys (lookup tables) name each op with the widths of the parts it
aggregates, e.g. ``Layer-rule:concat-exp-input:32x32x[24+12]-growth:12-bc:0``.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any, Sequence

import numpy as np
from torch import nn

from ..nn.aggregation import (RULES, Aggregated, AggregationBlock, AggregationLayer, AggregationNet, Head, Transition,
                              block_output_width, layer_input_widths, fetch_indices)
from ..problems import ImageClassification, InputSpec, Problem
from .base import ArchError, OpSpec, SearchSpace

__all__ = ["AggregationSpace", "PAPER_PRESETS", "SMALL_PRESETS", "PRESETS", "paper_arch", "preset_arch",
           "PAPER_PROBLEM", "RULE_NAMES"]

RULE_NAMES: tuple[str, ...] = tuple(RULES)
_KEYS = ("depths", "growths", "rules", "bottleneck", "compressions")


def _transition_width(c: int, compression: float) -> int:
    return max(1, int(c * compression))


def paper_arch(depth: int, growths: int | Sequence[int], rule: str, *, bottleneck: bool = False,
               compression: float | None = None, stages: int = 3) -> dict[str, Any]:
    """The architecture the paper names ``<Net>-<depth>-<growth>``: ``depth`` counts
    the stem, every convolution of the blocks, the transitions and the classifier,
    so a block has ``(depth - stages - 1) / stages`` layers (halved with BC: two
    convolutions a layer). ``growths``: one rate, or one per stage. BC compresses
    transitions by 0.5 unless ``compression`` says otherwise."""
    if rule not in RULES:
        raise ArchError(f"rule {rule!r} is not one of {list(RULES)}")
    per_layer = 2 if bottleneck else 1
    convs = depth - stages - 1
    if isinstance(depth, bool) or not isinstance(depth, int) or convs < stages * per_layer \
            or convs % (stages * per_layer):
        raise ArchError(f"depth {depth!r} does not fit the block layout: depth - {stages + 1} must be a positive "
                        f"multiple of {stages * per_layer} ({stages} blocks{', 2 convolutions a layer' if bottleneck else ''})")
    n = convs // (stages * per_layer)
    ks = [int(growths)] * stages if isinstance(growths, int) else [int(g) for g in growths]
    if len(ks) != stages:
        raise ArchError(f"growths must be one rate or {stages} rates, got {list(ks)}")
    theta = (0.5 if bottleneck else 1.0) if compression is None else float(compression)
    return {"depths": [n] * stages, "growths": ks, "rules": [rule] * stages, "bottleneck": [bool(bottleneck)] * stages,
            "compressions": [theta] * (stages - 1)}


#: the paper's table (CIFAR-100: 32x32x3 in, 100 classes): name -> (architecture, parameters)
PAPER_PRESETS: dict[str, tuple[dict[str, Any], float]] = {
    "densenet-40-12": (paper_arch(40, 12, "concat-all"), 1.1e6),
    "sparsenet-40-24": (paper_arch(40, 24, "concat-exp"), 0.76e6),
    "densenet-100-24": (paper_arch(100, 24, "concat-all"), 28.28e6),
    "sparsenet-100-16-32-64": (paper_arch(100, (16, 32, 64), "concat-exp"), 7.22e6),
    "densenet-bc-100-12": (paper_arch(100, 12, "concat-all", bottleneck=True), 0.8e6),
    "sparsenet-bc-100-24": (paper_arch(100, 24, "concat-exp", bottleneck=True), 1.46e6),
}
PAPER_PROBLEM = ImageClassification(channels=3, size=32, classes=100)

#: scaled-down networks that train on a CPU in minutes (DenseNet, SparseNet at twice the growth as in
#: the paper, and the two sum rules), at two depths each so growth with depth shows
SMALL_PRESETS: dict[str, dict[str, Any]] = {
    "densenet-16-8": paper_arch(16, 8, "concat-all"),
    "densenet-28-8": paper_arch(28, 8, "concat-all"),
    "sparsenet-16-16": paper_arch(16, 16, "concat-exp"),
    "sparsenet-28-16": paper_arch(28, 16, "concat-exp"),
    "resnet-16-16": paper_arch(16, 16, "sum-all"),
    "resnet-28-16": paper_arch(28, 16, "sum-all"),
    "sumexp-16-16": paper_arch(16, 16, "sum-exp"),
    "sumexp-28-16": paper_arch(28, 16, "sum-exp"),
    # the paper's depth 40 at a quarter of its widths (DenseNet-40-12 and SparseNet-40-24 halved)
    "densenet-40-6": paper_arch(40, 6, "concat-all"),
    "sparsenet-40-12": paper_arch(40, 12, "concat-exp"),
}
PRESETS: dict[str, dict[str, Any]] = {**SMALL_PRESETS, **{k: v for k, (v, _) in PAPER_PRESETS.items()}}


def preset_arch(name: str) -> dict[str, Any]:
    try:
        return {k: list(v) for k, v in PRESETS[name].items()}
    except KeyError:
        raise ArchError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


class _Genome:
    """Gene choice indices: per stage depth, growth, rule, bottleneck; per transition compression."""

    def __init__(self, space: "AggregationSpace"):
        s = space.n_stages
        self.s = s
        self.choices = [space.depth_choices, space.growth_choices, space.rule_choices, space.bottleneck_choices]
        self.sizes = np.asarray([len(c) for c in self.choices for _ in range(s)]
                                + [len(space.compression_choices)] * (s - 1))
        self.comp = space.compression_choices
        self.index = [{v: i for i, v in enumerate(c)} for c in self.choices]
        self.comp_index = {v: i for i, v in enumerate(self.comp)}
        self.n_genes = int(len(self.sizes))

    def genes(self, archs: Sequence[dict[str, Any]]) -> np.ndarray:
        rows = []
        for a in archs:
            row = []
            for key, idx in zip(_KEYS[:4], self.index):
                row += [idx[v] for v in a[key]]
            row += [self.comp_index[float(v)] for v in a["compressions"]]
            rows.append(row)
        return np.asarray(rows, dtype=np.int64).reshape(len(archs), self.n_genes)

    def archs(self, genes: np.ndarray) -> list[dict[str, Any]]:
        s = self.s
        out = []
        for row in genes.tolist():
            a = {key: [c[i] for i in row[j * s:(j + 1) * s]] for j, (key, c) in enumerate(zip(_KEYS[:4], self.choices))}
            a["compressions"] = [self.comp[i] for i in row[4 * s:]]
            out.append(a)
        return out


class AggregationSpace(SearchSpace):
    """Blocks whose layers aggregate earlier outputs by a rule; per stage the
    depth, growth rate, rule and bottleneck, per transition the compression."""

    name = "aggregation"
    title = "Feature aggregation (ResNet / DenseNet / SparseNet) for small images"
    problem_kinds = (ImageClassification.kind,)

    def __init__(self, *, stages: int = 3, depths: Sequence[int] = (2, 4, 6, 8), growths: Sequence[int] = (8, 12, 16, 24),
                 rules: Sequence[str] = RULE_NAMES, bottlenecks: Sequence[bool] = (False, True),
                 compressions: Sequence[float] = (0.5, 1.0), stem_mult: int = 2):
        errors = []
        if isinstance(stages, bool) or not isinstance(stages, int) or not 1 <= stages <= 5:
            errors.append(f"stages must be 1 to 5, got {stages!r}")
        if not depths or any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 128 for d in depths):
            errors.append(f"depths must be layers per block from 1 to 128, got {list(depths)}")
        if not growths or any(isinstance(g, bool) or not isinstance(g, int) or not 1 <= g <= 256 for g in growths):
            errors.append(f"growths must be growth rates from 1 to 256, got {list(growths)}")
        bad = [r for r in rules if r not in RULES]
        if not rules or bad:
            errors.append(f"rules: unknown rule(s) {bad}; known: {list(RULES)}")
        if not bottlenecks or any(not isinstance(b, bool) for b in bottlenecks):
            errors.append("bottlenecks must be true / false")
        if not compressions or any(not 0.1 <= float(c) <= 1.0 for c in compressions):
            errors.append(f"compressions must be in [0.1, 1], got {list(compressions)}")
        if not 1 <= int(stem_mult) <= 8:
            errors.append(f"stem_mult must be 1 to 8, got {stem_mult!r}")
        if errors:
            raise ValueError("; ".join(errors))
        self.n_stages = int(stages)
        self.depth_choices = tuple(sorted(set(int(d) for d in depths)))
        self.growth_choices = tuple(sorted(set(int(g) for g in growths)))
        self.rule_choices = tuple(r for r in RULE_NAMES if r in set(rules))
        self.bottleneck_choices = tuple(b for b in (False, True) if b in set(bottlenecks))
        self.compression_choices = tuple(sorted(set(float(c) for c in compressions)))
        self.stem_mult = int(stem_mult)

    @classmethod
    def paper(cls) -> "AggregationSpace":
        """A space holding every network of the paper's table (and the scaled-down presets)."""
        return cls(depths=(4, 8, 12, 16, 32), growths=(6, 8, 12, 16, 24, 32, 36, 64), compressions=(0.5, 1.0))

    # -- description ----------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {"stages": self.n_stages, "depths": list(self.depth_choices), "growths": list(self.growth_choices),
                "rules": list(self.rule_choices), "bottlenecks": list(self.bottleneck_choices),
                "compressions": list(self.compression_choices), "stem_mult": self.stem_mult}

    def __repr__(self) -> str:
        return f"AggregationSpace({self.params()})"

    def size(self) -> int:
        per_stage = len(self.depth_choices) * len(self.growth_choices) * len(self.rule_choices) \
            * len(self.bottleneck_choices)
        return per_stage ** self.n_stages * len(self.compression_choices) ** (self.n_stages - 1)

    # -- validation -----------------------------------------------------
    def validate(self, arch: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(arch, dict):
            raise ArchError(f"an aggregation architecture is a dict, not {type(arch).__name__}")
        missing = [k for k in _KEYS if k not in arch]
        if missing:
            raise ArchError("architecture lacks " + ", ".join(missing))
        extra = sorted(set(arch) - set(_KEYS) - {"space", "blocks", "stem", "connectivity"})
        if extra:
            raise ArchError("unknown architecture keys: " + ", ".join(extra))
        s = self.n_stages
        out: dict[str, Any] = {}
        for key, choices, n in (("depths", self.depth_choices, s), ("growths", self.growth_choices, s),
                                ("rules", self.rule_choices, s), ("bottleneck", self.bottleneck_choices, s),
                                ("compressions", self.compression_choices, s - 1)):
            vals = arch[key]
            if not isinstance(vals, (list, tuple)) or len(vals) != n:
                raise ArchError(f"{key} must be a list of {n} values (one per {'transition' if n < s else 'stage'})")
            clean = []
            for i, v in enumerate(vals):
                if key == "rules":
                    ok = isinstance(v, str) and v in choices
                elif key == "bottleneck":
                    ok = isinstance(v, bool) and v in choices
                elif key == "compressions":
                    ok = not isinstance(v, bool) and isinstance(v, (int, float)) and float(v) in choices
                    v = float(v) if ok else v
                else:
                    ok = not isinstance(v, bool) and isinstance(v, int) and v in choices
                if not ok:
                    what = {"depths": "layers per block", "growths": "growth rate", "rules": "rule",
                            "bottleneck": "bottleneck", "compressions": "compression"}[key]
                    raise ArchError(f"{key}[{i}] = {v!r} ({what}) is not one of {list(choices)}")
                clean.append(v)
            out[key] = clean
        return out

    # -- evolution: genes are choice indices, each uniform over its choices --
    @cached_property
    def _genome(self) -> _Genome:
        return _Genome(self)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.sample_many(rng, 1)[0]

    def sample_many(self, rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
        g = self._genome
        return g.archs((rng.random((n, g.n_genes)) * g.sizes).astype(np.int64))

    def mutate(self, arch: dict[str, Any], rng: np.random.Generator, prob: float = 0.1) -> dict[str, Any]:
        return self.mutate_many([self.validate(arch)], rng, prob)[0]

    def mutate_many(self, archs: Sequence[dict[str, Any]], rng: np.random.Generator,
                    prob: float = 0.1) -> list[dict[str, Any]]:
        g = self._genome
        genes = g.genes(archs)
        fresh = (rng.random(genes.shape) * g.sizes).astype(np.int64)
        return g.archs(np.where(rng.random(genes.shape) < prob, fresh, genes))

    def crossover(self, a: dict[str, Any], b: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return self.crossover_many([self.validate(a)], [self.validate(b)], rng)[0]

    def crossover_many(self, a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]],
                       rng: np.random.Generator) -> list[dict[str, Any]]:
        g = self._genome
        ga, gb = g.genes(a), g.genes(b)
        return g.archs(np.where(rng.random(ga.shape) < 0.5, ga, gb))

    # -- encoding ---------------------------------------------------------
    @property
    def encoding_size(self) -> int:
        return int(self._genome.sizes.sum())

    def encode(self, arch: dict[str, Any]) -> np.ndarray:
        return self.encode_many([arch])[0]

    def encode_many(self, archs) -> np.ndarray:
        """One-hot of every gene, genes in order (stage depths, growths, rules, bottlenecks, compressions)."""
        archs = list(archs)
        g = self._genome
        try:
            genes = g.genes(archs)
        except (KeyError, TypeError, ValueError):
            for a in archs:
                self.validate(a)  # raises a clear ArchError
            raise
        offsets = np.concatenate([[0], np.cumsum(g.sizes)[:-1]])
        out = np.zeros((len(archs), self.encoding_size), dtype=np.float32)
        rows = np.repeat(np.arange(len(archs)), g.n_genes)
        out[rows, (genes + offsets).reshape(-1)] = 1.0
        return out

    # -- rendering ----------------------------------------------------------
    def stem_width(self, arch: dict[str, Any]) -> int:
        return self.stem_mult * int(arch["growths"][0])

    def connectivity(self, arch: dict[str, Any]) -> list[dict[str, Any]]:
        """Per stage which earlier outputs each layer reads: ``reads[i]`` lists the
        indices into ``[input, layer 1, …]`` that layer ``i + 1`` aggregates, the
        last row what the block hands on."""
        out = []
        for i, (d, rule) in enumerate(zip(arch["depths"], arch["rules"])):
            fetch = RULES[rule][0]
            out.append({"stage": i + 1, "rule": rule, "depth": int(d),
                        "reads": [fetch_indices(j + 1, fetch) for j in range(int(d) + 1)]})
        return out

    def structure(self, arch: dict[str, Any]) -> dict[str, Any]:
        """The architecture with per-block widths, as a candidate reports it."""
        a = self.validate(arch)
        blocks = []
        for i, (c0, size, cout) in enumerate(self._stage_widths(a, 32)):
            blocks.append({"stage": i + 1, "rule": a["rules"][i], "depth": a["depths"][i], "growth": a["growths"][i],
                           "bottleneck": a["bottleneck"][i], "in_channels": c0, "out_channels": cout})
        return {**a, "stem": self.stem_width(a), "blocks": blocks, "connectivity": self.connectivity(a),
                "space": self.name}

    def describe(self, arch: dict[str, Any]) -> str:
        """One line per block, e.g. ``concat-exp 12x k24 | concat-exp 12x k24 BC θ0.5``."""
        parts = []
        for i in range(len(arch["depths"])):
            bc = " BC" if arch["bottleneck"][i] else ""
            comp = f" θ{arch['compressions'][i]:g}" if i < len(arch["compressions"]) else ""
            parts.append(f"{arch['rules'][i]} {arch['depths'][i]}x k{arch['growths'][i]}{bc}{comp}")
        return " | ".join(parts)

    # -- building ---------------------------------------------------------
    def _image(self, problem: Problem) -> ImageClassification:
        self.check_problem(problem)
        assert isinstance(problem, ImageClassification)
        return problem

    def input_specs(self, arch: dict[str, Any], problem: Problem, batch: int = 1) -> tuple[InputSpec, ...]:
        return self._image(problem).input_specs(batch)

    def _stage_widths(self, arch: dict[str, Any], size: int) -> list[tuple[int, int, int]]:
        """Per stage (input width, resolution, width handed on after the block)."""
        c, out = self.stem_width(arch), []
        for i in range(self.n_stages):
            cout = block_output_width(c, arch["growths"][i], arch["depths"][i], arch["rules"][i])
            out.append((c, size, cout))
            if i < self.n_stages - 1:
                c, size = _transition_width(cout, arch["compressions"][i]), size // 2
        return out

    def build(self, arch: dict[str, Any], problem: Problem) -> AggregationNet:
        image = self._image(problem)
        self._check_size(image)
        arch = self.validate(arch)
        stem = self.stem_width(arch)
        stages: list[nn.Module] = []
        for i, (c0, _, cout) in enumerate(self._stage_widths(arch, image.size)):
            stages.append(AggregationBlock(c0, arch["growths"][i], arch["depths"][i], arch["rules"][i],
                                           bottleneck=arch["bottleneck"][i]))
            if i < self.n_stages - 1:
                stages.append(Transition(cout, _transition_width(cout, arch["compressions"][i])))
        return AggregationNet(nn.Conv2d(image.channels, stem, 3, padding=1, bias=False), stages,
                              self._stage_widths(arch, image.size)[-1][2], image.classes, arch=arch, space=self)

    def _check_size(self, image: ImageClassification) -> None:
        if image.size < 2 ** (self.n_stages - 1):
            raise ValueError(f"images of {image.size} px are too small for {self.n_stages} stages "
                             f"(each transition halves the resolution)")

    # -- ops for lookup tables -------------------------------------------
    def _op_sigs(self, arch: dict[str, Any], image: ImageClassification) -> list[tuple]:
        r = image.size
        stem = self.stem_width(arch)
        sigs: list[tuple] = [("Stem", r, (image.channels,), stem, "", 0)]
        for i, (c0, size, cout) in enumerate(self._stage_widths(arch, r)):
            k, d, rule, bc = arch["growths"][i], arch["depths"][i], arch["rules"][i], bool(arch["bottleneck"][i])
            if RULES[rule][1] == "sum" and c0 != k:
                sigs.append(("Proj", size, (c0,), k, "", 0))
            layers = layer_input_widths(c0, k, d, rule)
            for parts in layers:
                sigs.append(("Layer", size, tuple(parts), k, rule, int(bc)))
            handed = _handed_parts(c0, k, d, rule)
            if i < self.n_stages - 1:
                sigs.append(("Transition", size, handed, _transition_width(cout, arch["compressions"][i]), rule, 0))
            else:
                sigs.append(("Logits", size, handed, image.classes, rule, 0))
        return sigs

    def ops(self, arch: dict[str, Any], problem: Problem) -> list[OpSpec]:
        image = self._image(problem)
        return [_op(*sig) for sig in self._op_sigs(self.validate(arch), image)]

    def op_keys(self, arch: dict[str, Any], problem: Problem) -> list[str]:
        image = self._image(problem)
        return [_key(*sig) for sig in self._op_sigs(arch, image)]

    def all_ops(self, problem: Problem) -> list[OpSpec]:
        """Every op any architecture uses: stage input widths reachable from
        each stem are followed stage by stage (a block of the largest depth
        holds the layers of every smaller one)."""
        image = self._image(problem)
        seen: dict[str, OpSpec] = {}

        def add(sig: tuple) -> None:
            key = _key(*sig)
            if key not in seen:
                seen[key] = _op(*sig)

        max_d = max(self.depth_choices)
        frontier: set[int] = set()
        for k in self.growth_choices:
            add(("Stem", image.size, (image.channels,), self.stem_mult * k, "", 0))
            frontier.add(self.stem_mult * k)
        size = image.size
        for i in range(self.n_stages):
            nxt: set[int] = set()
            for c0 in sorted(frontier):
                for k in self.growth_choices:
                    for rule in self.rule_choices:
                        if RULES[rule][1] == "sum" and c0 != k:
                            add(("Proj", size, (c0,), k, "", 0))
                        for bc in self.bottleneck_choices:
                            for parts in layer_input_widths(c0, k, max_d, rule):
                                add(("Layer", size, tuple(parts), k, rule, int(bc)))
                        for d in self.depth_choices:
                            handed = _handed_parts(c0, k, d, rule)
                            cout = block_output_width(c0, k, d, rule)
                            if i < self.n_stages - 1:
                                for theta in self.compression_choices:
                                    co = _transition_width(cout, theta)
                                    add(("Transition", size, handed, co, rule, 0))
                                    nxt.add(co)
                            else:
                                add(("Logits", size, handed, image.classes, rule, 0))
            frontier, size = nxt, size // 2
        return list(seen.values())

    def op_module(self, op: OpSpec) -> nn.Module:
        a = op.attrs
        if op.kind == "Stem":
            return nn.Conv2d(a["parts"][0], a["cout"], 3, padding=1, bias=False)
        if op.kind == "Proj":
            return nn.Conv2d(a["parts"][0], a["cout"], 1, bias=False)
        agg = RULES[a["rule"]][1]
        cin = sum(a["parts"]) if agg == "concat" else a["parts"][0]
        if op.kind == "Layer":
            return AggregationLayer(a["parts"], a["cout"], aggregate=agg, bottleneck=bool(a["bc"]))
        if op.kind == "Transition":
            return Aggregated(Transition(cin, a["cout"]), agg)
        if op.kind == "Logits":
            return Aggregated(Head(cin, a["cout"]), agg)
        raise ValueError(f"unknown op kind {op.kind!r}")


def _handed_parts(c0: int, k: int, d: int, rule: str) -> tuple[int, ...]:
    """The widths of the parts a block of ``d`` layers aggregates for what follows it."""
    fetch, agg = RULES[rule]
    widths = [k if agg == "sum" else c0] + [k] * d
    return tuple(widths[j] for j in fetch_indices(d + 1, fetch))


def _key(kind: str, size: int, parts: tuple[int, ...], cout: int, rule: str, bc: int) -> str:
    inp = f"{size}x{size}x" + ("[" + "+".join(map(str, parts)) + "]" if len(parts) > 1 else str(parts[0]))
    if kind in ("Stem", "Proj"):
        return f"{kind}-input:{inp}-output:{size}x{size}x{cout}"
    if kind == "Layer":
        return f"Layer-rule:{rule}-input:{inp}-growth:{cout}-bc:{bc}"
    if kind == "Transition":
        return f"Transition-rule:{rule}-input:{inp}-output:{size // 2}x{size // 2}x{cout}"
    return f"Logits-rule:{rule}-input:{inp}-output:{cout}"


def _op(kind: str, size: int, parts: tuple[int, ...], cout: int, rule: str, bc: int) -> OpSpec:
    attrs = {"kind": kind, "size": size, "parts": list(parts), "cout": cout, "rule": rule, "bc": bc}
    return OpSpec(_key(kind, size, parts, cout, rule, bc), kind,
                  tuple(InputSpec((1, c, size, size)) for c in parts), attrs)
