"""The MBConv search space (ProxylessNAS / once-for-all style) for small images.

A network is: stem (3x3 conv) → a fixed first block (depthwise-separable,
expand 1) → ``len(widths)`` stages of inverted-residual blocks → a 1x1
feature-mix conv → pooling and a linear classifier. Per block slot the kernel
is 3/5/7 and the expand ratio 3/4/6; per stage the depth is 2 to 4 (a skipped
slot is ProxylessNAS's zero op); the input resolution is one of a few sizes.

An architecture is a JSON dict, agreed with the super-net::

    {"resolution": 32, "depths": [d per stage],
     "kernels": [k per slot], "expands": [e per slot]}   # len = stages * max_depth

Slot ``i * max_depth + j`` is block ``j`` of stage ``i``; slots with
``j >= depths[i]`` are ignored (their values are kept; they encode as zeros).
Op keys follow the once-for-all / ProxylessNAS lookup-table naming
(``expanded_conv-input:HxWxC-output:HxWxC-expand:E-kernel:K-stride:S-idskip:B``).
"""
from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..nn.mbconv import ClassifierHead, ConvBNAct, MBConvBlock, make_divisible
from ..problems import ImageClassification, InputSpec, Problem
from .base import ArchError, OpSpec, SearchSpace

__all__ = ["MBConvSpace", "MBConvNet"]


def _num(v: Any) -> str:
    """6.0 -> "6", 6 -> "6", 0.5 -> "0.5"."""
    return f"{v:g}" if isinstance(v, float) else str(v)


class _Genome:
    """An MBConv space's genes as choice indices, and back."""

    def __init__(self, space: "MBConvSpace"):
        self.n_stages, self.n_slots = space.n_stages, space.n_slots
        self.n_genes = 1 + self.n_stages + 2 * self.n_slots
        self.res, self.depths = np.asarray(space.resolutions), np.asarray(space.depth_choices)
        self.kernels, self.expands = np.asarray(space.kernel_choices), np.asarray(space.expand_choices)
        self.sizes = np.asarray([len(self.res)] + [len(self.depths)] * self.n_stages
                                + [len(self.kernels)] * self.n_slots + [len(self.expands)] * self.n_slots)
        self.index = {key: {int(v): i for i, v in enumerate(vals)}
                      for key, vals in (("r", self.res), ("d", self.depths), ("k", self.kernels), ("e", self.expands))}

    def genes(self, archs: Sequence[dict[str, Any]]) -> np.ndarray:
        """(n, n_genes) choice indices; an inactive slot's 0 / None is -1."""
        ri, di, ki, ei = (self.index[k] for k in "rdke")
        return np.asarray([[ri[a["resolution"]]] + [di[d] for d in a["depths"]]
                           + [ki.get(v, -1) for v in a["kernels"]] + [ei.get(v, -1) for v in a["expands"]]
                           for a in archs], dtype=np.int64).reshape(len(archs), self.n_genes)

    def archs(self, genes: np.ndarray) -> list[dict[str, Any]]:
        s, n = self.n_stages, self.n_slots
        res = self.res[genes[:, 0]].tolist()
        dep = self.depths[genes[:, 1:1 + s]].tolist()
        ker = self.kernels[genes[:, 1 + s:1 + s + n]].tolist()
        exp = self.expands[genes[:, 1 + s + n:]].tolist()
        return [{"resolution": r, "depths": d, "kernels": k, "expands": e} for r, d, k, e in zip(res, dep, ker, exp)]


def _conv_out(size: int, stride: int) -> int:
    return (size - 1) // stride + 1


class MBConvNet(nn.Module):
    """A static network of the MBConv space (what ``MBConvSpace.build`` returns)."""

    def __init__(self, stem: nn.Module, first_block: nn.Module, blocks: Sequence[nn.Module],
                 feature_mix: nn.Module, head: nn.Module, resolution: int,
                 arch: dict[str, Any] | None = None, space: "MBConvSpace | None" = None):
        super().__init__()
        self.stem = stem
        self.first_block = first_block
        self.blocks = nn.Sequential(*blocks)
        self.feature_mix = feature_mix
        self.head = head
        self.resolution = resolution
        #: the architecture and space it was built from (latency lookup tables use them)
        self.arch, self.space = arch, space

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.feature_mix(self.blocks(self.first_block(self.stem(x)))))


class MBConvSpace(SearchSpace):
    """Stages of MBConv blocks; all choices and widths are parameters of the space."""

    name = "mbconv"
    title = "MBConv (ProxylessNAS / once-for-all) for small images"
    problem_kinds = (ImageClassification.kind,)

    def __init__(self, *, widths: Sequence[int] = (24, 32, 64, 96, 160), strides: Sequence[int] = (2, 2, 2, 1, 2),
                 kernels: Sequence[int] = (3, 5, 7), expands: Sequence[int] = (3, 4, 6),
                 depths: Sequence[int] = (2, 3, 4), resolutions: Sequence[int] = (24, 28, 32, 40, 48),
                 stem_width: int = 16, stem_stride: int = 1, head_width: int = 512, width_mult: float = 1.0):
        if len(widths) != len(strides) or not widths:
            raise ValueError("widths and strides must have the same, non-zero length")
        if any(s not in (1, 2) for s in strides) or stem_stride not in (1, 2):
            raise ValueError("strides must be 1 or 2")
        if any(k % 2 == 0 or k < 1 for k in kernels) or any(e < 1 for e in expands):
            raise ValueError("kernels must be odd and expand ratios >= 1")
        if not depths or min(depths) < 1 or not resolutions or min(resolutions) < 8:
            raise ValueError("depths must be >= 1 and resolutions >= 8")
        if not 0.1 <= width_mult <= 4.0:
            raise ValueError("width_mult must be in [0.1, 4]")
        self.base_widths = tuple(int(w) for w in widths)
        self.strides = tuple(int(s) for s in strides)
        self.kernel_choices = tuple(sorted(int(k) for k in kernels))
        self.expand_choices = tuple(sorted(int(e) for e in expands))
        self.depth_choices = tuple(sorted(int(d) for d in depths))
        self.resolutions = tuple(sorted(int(r) for r in resolutions))
        self.stem_stride = int(stem_stride)
        self.width_mult = float(width_mult)
        self.base_stem, self.base_head = int(stem_width), int(head_width)
        self.stem_width = make_divisible(stem_width * width_mult)
        self.widths = tuple(make_divisible(w * width_mult) for w in widths)
        self.head_width = make_divisible(head_width * max(1.0, width_mult))
        self.n_stages = len(self.widths)
        self.max_depth = max(self.depth_choices)
        self.n_slots = self.n_stages * self.max_depth
        self._k_index = {k: i for i, k in enumerate(self.kernel_choices)}
        self._e_index = {e: i for i, e in enumerate(self.expand_choices)}
        self._r_index = {r: i for i, r in enumerate(self.resolutions)}
        self._slot_dim = len(self.kernel_choices) + len(self.expand_choices)

    # -- description ----------------------------------------------------
    def params(self) -> dict[str, Any]:
        return {"widths": list(self.base_widths), "strides": list(self.strides),
                "kernels": list(self.kernel_choices), "expands": list(self.expand_choices),
                "depths": list(self.depth_choices), "resolutions": list(self.resolutions),
                "stem_width": self.base_stem, "stem_stride": self.stem_stride, "head_width": self.base_head,
                "width_mult": self.width_mult}

    def size(self) -> int:
        """Number of distinct architectures (inactive slots not counted)."""
        per_block = len(self.kernel_choices) * len(self.expand_choices)
        per_stage = sum(per_block ** d for d in self.depth_choices)
        return len(self.resolutions) * per_stage ** self.n_stages

    def __repr__(self) -> str:
        return f"MBConvSpace({self.params()})"

    # -- validation -----------------------------------------------------
    def validate(self, arch: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(arch, dict):
            raise ArchError(f"an MBConv architecture is a dict, not {type(arch).__name__}")
        missing = [k for k in ("resolution", "depths", "kernels", "expands") if k not in arch]
        if missing:
            raise ArchError("architecture lacks " + ", ".join(missing))
        extra = sorted(set(arch) - {"resolution", "depths", "kernels", "expands"})
        if extra:
            raise ArchError("unknown architecture keys: " + ", ".join(extra))
        res = arch["resolution"]
        if isinstance(res, bool) or res not in self.resolutions:
            raise ArchError(f"resolution {res!r} is not one of {list(self.resolutions)}")
        depths = arch["depths"]
        if not isinstance(depths, (list, tuple)) or len(depths) != self.n_stages:
            raise ArchError(f"depths must be a list of {self.n_stages} stage depths")
        for i, d in enumerate(depths):
            if isinstance(d, bool) or d not in self.depth_choices:
                raise ArchError(f"depths[{i}] = {d!r} is not one of {list(self.depth_choices)}")
        out: dict[str, Any] = {"resolution": int(res), "depths": [int(d) for d in depths]}
        for key, choices in (("kernels", self.kernel_choices), ("expands", self.expand_choices)):
            vals = arch[key]
            if not isinstance(vals, (list, tuple)) or len(vals) != self.n_slots:
                raise ArchError(f"{key} must be a list of {self.n_slots} values "
                                f"({self.n_stages} stages x {self.max_depth} slots)")
            clean = []
            for slot, v in enumerate(vals):
                active = slot % self.max_depth < depths[slot // self.max_depth]
                ok = (not isinstance(v, bool)) and (v in choices or (not active and v in (0, None)))
                if not ok:
                    where = f"stage {slot // self.max_depth + 1}, block {slot % self.max_depth + 1}"
                    raise ArchError(f"{key}[{slot}] ({where}) = {v!r} is not one of {list(choices)}")
                clean.append(int(v) if v is not None else 0)
            out[key] = clean
        return out

    def is_valid(self, arch: dict[str, Any]) -> bool:
        try:
            self.validate(arch)
        except ArchError:
            return False
        return True

    def active_slots(self, arch: dict[str, Any]) -> list[int]:
        return [i * self.max_depth + j for i, d in enumerate(arch["depths"]) for j in range(d)]

    def network_key(self, arch: dict[str, Any]) -> tuple:
        """A hashable key of the network ``arch`` builds: genes of slots that
        depth skips are left out, so two genomes that differ only there (the
        same network) share a key."""
        active = self.active_slots(arch)
        return (int(arch["resolution"]), tuple(int(d) for d in arch["depths"]),
                tuple(int(arch["kernels"][i]) for i in active), tuple(float(arch["expands"][i]) for i in active))

    # -- evolution --------------------------------------------------------
    # One implementation of each operator, on a matrix of gene choice indices
    # (resolution, each stage's depth, each slot's kernel, each slot's expand;
    # -1 for an inactive slot's 0 / None): every gene uniform over its choices,
    # drawn with one vectorised call per batch. The one-architecture methods
    # are the batch of one (and validate their input); searches call the
    # ``*_many`` forms on parents they already hold.
    @cached_property
    def _genome(self) -> _Genome:
        return _Genome(self)

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.sample_many(rng, 1)[0]

    def sample_many(self, rng: np.random.Generator, n: int) -> list[dict[str, Any]]:
        """``n`` uniform random architectures in one vectorised draw (``n`` calls
        of :meth:`sample` give the same architectures)."""
        g = self._genome
        return g.archs((rng.random((n, g.n_genes)) * g.sizes).astype(np.int64))

    def mutate(self, arch: dict[str, Any], rng: np.random.Generator, prob: float = 0.1) -> dict[str, Any]:
        """Resample each gene (resolution, each depth, each slot's kernel and
        expand) with probability ``prob``; an inactive slot's 0 gets a real value."""
        return self.mutate_many([self.validate(arch)], rng, prob)[0]

    def mutate_many(self, archs: Sequence[dict[str, Any]], rng: np.random.Generator,
                    prob: float = 0.1) -> list[dict[str, Any]]:
        """:meth:`mutate` of each of ``archs`` (valid architectures: not re-validated)."""
        g = self._genome
        genes = g.genes(archs)
        fresh = (rng.random(genes.shape) * g.sizes).astype(np.int64)
        flip = (rng.random(genes.shape) < prob) | (genes < 0)
        return g.archs(np.where(flip, fresh, genes))

    def crossover(self, a: dict[str, Any], b: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """Uniform crossover: each gene from either parent with probability 1/2
        (a gene that is an inactive slot's 0 gets a real value)."""
        return self.crossover_many([self.validate(a)], [self.validate(b)], rng)[0]

    def crossover_many(self, a: Sequence[dict[str, Any]], b: Sequence[dict[str, Any]],
                       rng: np.random.Generator) -> list[dict[str, Any]]:
        """:meth:`crossover` of each pair ``(a[i], b[i])`` (valid architectures)."""
        g = self._genome
        ga, gb = g.genes(a), g.genes(b)
        child = np.where(rng.random(ga.shape) < 0.5, ga, gb)
        fresh = (rng.random(ga.shape) * g.sizes).astype(np.int64)
        return g.archs(np.where(child < 0, fresh, child))

    # -- rendering ----------------------------------------------------------
    def structure(self, arch: dict[str, Any]) -> dict[str, Any]:
        """The architecture with per-block details (stage, kernel, expand,
        width, stride) for drawing it block by block: what a candidate reports."""
        blocks = []
        for i, d in enumerate(arch["depths"]):
            for j in range(d):
                s = i * self.max_depth + j
                blocks.append({"stage": i + 1, "kernel": arch["kernels"][s], "expand": arch["expands"][s],
                               "width": self.widths[i], "stride": self.strides[i] if j == 0 else 1})
        return {**arch, "blocks": blocks, "space": self.name}

    def describe(self, arch: dict[str, Any]) -> str:
        """One line: the resolution, then kernel and expand ratio per active
        block (``k7e4``), stages separated by ``|`` -- e.g. ``28px k7e4 k5e6 | k3e3``.

        Takes an architecture or its :meth:`structure` (a reported candidate,
        whose ``blocks`` are used as they are); the slots per stage are read from
        the architecture itself, so any MBConv space describes any MBConv
        architecture."""
        blocks = arch.get("blocks")
        if not (isinstance(blocks, list) and blocks and all(isinstance(b, dict) and "kernel" in b and "expand" in b
                                                            for b in blocks)):
            per_stage = len(arch["kernels"]) // max(1, len(arch["depths"]))
            blocks = [{"stage": i + 1, "kernel": arch["kernels"][i * per_stage + j],
                       "expand": arch["expands"][i * per_stage + j]}
                      for i, d in enumerate(arch["depths"]) for j in range(int(d))]
        stages: dict[Any, list[str]] = {}
        for blk in blocks:
            stages.setdefault(blk.get("stage", 0), []).append(f"k{_num(blk['kernel'])}e{_num(blk['expand'])}")
        head = f"{_num(arch['resolution'])}px " if "resolution" in arch else ""
        return head + " | ".join(" ".join(v) for v in stages.values())

    # -- encoding ---------------------------------------------------------
    @property
    def encoding_size(self) -> int:
        return self.n_slots * self._slot_dim + len(self.resolutions)

    def encode(self, arch: dict[str, Any]) -> np.ndarray:
        """once-for-all style: per slot a one-hot of kernel and of expand ratio
        (all zeros for a skipped slot), then a one-hot of the resolution."""
        return self.encode_many([arch])[0]

    def encode_many(self, archs: Iterable[dict[str, Any]]) -> np.ndarray:
        archs = list(archs)
        out = np.zeros((len(archs), self.encoding_size), dtype=np.float32)
        nk, md, sd = len(self.kernel_choices), self.max_depth, self._slot_dim
        base = self.n_slots * sd
        k_index, e_index = self._k_index, self._e_index
        for row, a in enumerate(archs):
            try:
                ks, es, depths = a["kernels"], a["expands"], a["depths"]
                out[row, base + self._r_index[a["resolution"]]] = 1.0
                for i, d in enumerate(depths):
                    for j in range(d):
                        s = i * md + j
                        out[row, s * sd + k_index[ks[s]]] = 1.0
                        out[row, s * sd + nk + e_index[es[s]]] = 1.0
            except (KeyError, IndexError, TypeError) as e:
                self.validate(a)  # raises a clear ArchError
                raise ArchError(f"cannot encode architecture: {e}") from None
        return out

    # -- building ---------------------------------------------------------
    def _image(self, problem: Problem) -> ImageClassification:
        self.check_problem(problem)
        assert isinstance(problem, ImageClassification)
        return problem

    def input_specs(self, arch: dict[str, Any], problem: Problem, batch: int = 1) -> tuple[InputSpec, ...]:
        """One image batch at the architecture's resolution (the problem's ``size`` is not used)."""
        return self._image(problem).input_specs(batch, resolution=int(arch["resolution"]))

    def _layout(self, arch: dict[str, Any]) -> list[tuple[int, int, int, int, int]]:
        """Active blocks as (cin, cout, stride, kernel, expand)."""
        blocks = []
        cin = self.stem_width
        for i, d in enumerate(arch["depths"]):
            for j in range(d):
                s = i * self.max_depth + j
                blocks.append((cin, self.widths[i], self.strides[i] if j == 0 else 1,
                               int(arch["kernels"][s]), int(arch["expands"][s])))
                cin = self.widths[i]
        return blocks

    def build(self, arch: dict[str, Any], problem: Problem) -> MBConvNet:
        image = self._image(problem)
        arch = self.validate(arch)
        blocks = [MBConvBlock(ci, co, kernel=k, expand=e, stride=st) for ci, co, st, k, e in self._layout(arch)]
        return MBConvNet(
            stem=ConvBNAct(image.channels, self.stem_width, 3, self.stem_stride),
            first_block=MBConvBlock(self.stem_width, self.stem_width, kernel=3, expand=1, stride=1),
            blocks=blocks,
            feature_mix=ConvBNAct(self.widths[-1], self.head_width, 1),
            head=ClassifierHead(self.head_width, image.classes),
            resolution=arch["resolution"], arch=arch, space=self,
        )

    # -- ops for lookup tables -------------------------------------------
    def ops(self, arch: dict[str, Any], problem: Problem) -> list[OpSpec]:
        image = self._image(problem)
        arch = self.validate(arch)
        return [self._op(*sig) for sig in self._op_sigs(arch, image.classes, image.channels)]

    def op_keys(self, arch: dict[str, Any], problem: Problem) -> list[str]:
        """The lookup-table keys of ``arch`` (fast path, no validation)."""
        image = self._image(problem)
        return [_key(*sig) for sig in self._op_sigs(arch, image.classes, image.channels)]

    def _op_sigs(self, arch: dict[str, Any], num_classes: int, in_channels: int) -> list[tuple]:
        r = int(arch["resolution"])
        size = _conv_out(r, self.stem_stride)
        sigs: list[tuple] = [("Conv", r, in_channels, size, self.stem_width, 3, self.stem_stride, 1),
                             ("expanded_conv", size, self.stem_width, size, self.stem_width, 3, 1, 1)]
        for cin, cout, stride, k, e in self._layout(arch):
            out = _conv_out(size, stride)
            sigs.append(("expanded_conv", size, cin, out, cout, k, stride, e))
            size = out
        sigs.append(("Conv_1", size, self.widths[-1], size, self.head_width, 1, 1, 1))
        sigs.append(("Logits", size, self.head_width, 1, num_classes, 1, 1, 1))
        return sigs

    @staticmethod
    def _op(kind: str, hin: int, cin: int, hout: int, cout: int, k: int, s: int, e: int) -> OpSpec:
        attrs = {"kind": kind, "in_size": hin, "cin": cin, "out_size": hout, "cout": cout, "kernel": k,
                 "stride": s, "expand": e}
        return OpSpec(_key(kind, hin, cin, hout, cout, k, s, e), kind, (InputSpec((1, cin, hin, hin)),), attrs)

    def all_ops(self, problem: Problem) -> list[OpSpec]:
        seen: dict[str, OpSpec] = {}
        for r in self.resolutions:
            for kk in self.kernel_choices:
                for ee in self.expand_choices:
                    arch = {"resolution": r, "depths": [self.max_depth] * self.n_stages,
                            "kernels": [kk] * self.n_slots, "expands": [ee] * self.n_slots}
                    for op in self.ops(arch, problem):
                        seen.setdefault(op.key, op)
        return list(seen.values())

    def op_module(self, op: OpSpec) -> nn.Module:
        a = op.attrs
        if op.kind == "Conv" or op.kind == "Conv_1":
            return ConvBNAct(a["cin"], a["cout"], a["kernel"], a["stride"])
        if op.kind == "expanded_conv":
            return MBConvBlock(a["cin"], a["cout"], kernel=a["kernel"], expand=a["expand"], stride=a["stride"])
        if op.kind == "Logits":
            return ClassifierHead(a["cin"], a["cout"])
        raise ValueError(f"unknown op kind {op.kind!r}")


@lru_cache(maxsize=65536)
def _key(kind: str, hin: int, cin: int, hout: int, cout: int, k: int, s: int, e: int) -> str:
    if kind == "expanded_conv":
        idskip = int(s == 1 and cin == cout)
        return (f"expanded_conv-input:{hin}x{hin}x{cin}-output:{hout}x{hout}x{cout}-expand:{e}-kernel:{k}"
                f"-stride:{s}-idskip:{idskip}")
    if kind == "Logits":
        return f"Logits-input:{hin}x{hin}x{cin}-output:{cout}"
    return f"{kind}-input:{hin}x{hin}x{cin}-output:{hout}x{hout}x{cout}"
