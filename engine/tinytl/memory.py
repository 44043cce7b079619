"""Training memory, measured and counted.

Measured (:func:`measure_training_memory`): one real training step on a copy
of the model. Activations are the tensors autograd saves for backward, caught
with ``torch.autograd.graph.saved_tensors_hooks``, deduplicated by storage
(two saved views of one buffer count once) and excluding the model's own
parameters and buffers. Parameters and buffers, gradients and optimiser state
are the bytes of the tensors that hold them after the step.

Measured peak (``MemoryBreakdown.peak_bytes``): the high-water mark of the
whole step at the allocator level. torch 2.14 exposes no statistics of its CPU
allocator (``torch.cpu`` has no ``memory_allocated``), and ``tracemalloc`` does
not see tensor storage (it is allocated by c10, not by Python), so the step runs
under ``torch.profiler.profile(profile_memory=True)``: every allocation and free
of the CPU allocator is an event with its size and time, and the running sum of
those events, from the bytes already live when the step starts (parameters,
buffers, the batch), peaks at the step's high-water mark. Unlike the saved-tensor
count it includes the transient forward and backward buffers (a layer's output
before the next layer consumes it, gradient temporaries, the optimiser's
intermediates), which is what a device must hold at once. It is the most
faithful of the candidates: a saved-tensors + forward-hook high-water mark sees
only tensors that a hook is shown, and misses backward temporaries and the
optimiser's scratch.

Counted (:func:`analytic_memory`): the paper's model (TinyTL, Cai et al. 2020,
Sec. 2-3), from the cost model's per-layer shapes
(``engine.hardware.cost.profile_model``): a convolution, linear or norm layer
stores its input (fp32) only when its weight is trained; a ReLU stores 1 bit
per element when a gradient must pass through it; pooling, upsampling and
additions store nothing; trained parameters take 4 bytes and frozen ones
``frozen_bits`` / 8 (8-bit by default). Total = peak activation x batch +
parameters, where the peak activation is the largest of (activations stored so
far + the current layer's working set) over the forward pass; a layer's working
set is its input and output, or just one of them for the element-wise layers
(norms, activations) that inference engines run in place.
"""
from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from engine.hardware.cost import profile_model
from engine.training import StepOutput, classification_step

__all__ = ["MemoryBreakdown", "step_peak_bytes", "peak_from_events", "AnalyticMemory", "measure_training_memory", "analytic_memory", "saved_activation_bytes",
           "fits_profile", "MB"]

MB = 2 ** 20
_WEIGHTED = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)
_ACTS = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU)
#: element-wise layers an inference engine runs in place (fused into the convolution)
_INPLACE = (*_ACTS, nn.BatchNorm2d, nn.GroupNorm, nn.Dropout, nn.Identity)


@dataclass
class MemoryBreakdown:
    """Bytes held during one training step, measured."""

    batch_size: int
    activation_bytes: int
    trainable_param_bytes: int
    frozen_param_bytes: int
    grad_bytes: int
    optimizer_bytes: int
    #: allocator-level high-water mark of the whole step (forward, backward, optimiser step), including the
    #: bytes live when it starts (model state and the batch); 0 when the profiler recorded no memory events
    peak_bytes: int = 0

    @property
    def param_bytes(self) -> int:
        return self.trainable_param_bytes + self.frozen_param_bytes

    @property
    def total_bytes(self) -> int:
        return self.activation_bytes + self.param_bytes + self.grad_bytes + self.optimizer_bytes

    def to_dict(self) -> dict[str, int]:
        d = asdict(self)
        d.update(param_bytes=self.param_bytes, total_bytes=self.total_bytes)
        return d


@dataclass
class AnalyticMemory:
    """The paper's count. Bytes; per-sample figures are for batch size 1."""

    batch_size: int
    stored_bytes_per_sample: float
    peak_activation_bytes_per_sample: float
    trainable_param_bytes: float
    frozen_param_bytes: float
    frozen_bits: int
    layers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def activation_bytes(self) -> float:
        return self.peak_activation_bytes_per_sample * self.batch_size

    @property
    def param_bytes(self) -> float:
        return self.trainable_param_bytes + self.frozen_param_bytes

    @property
    def total_bytes(self) -> float:
        return self.activation_bytes + self.param_bytes

    def to_dict(self, *, with_layers: bool = False) -> dict[str, Any]:
        d = asdict(self)
        if not with_layers:
            d.pop("layers")
        d.update(activation_bytes=self.activation_bytes, param_bytes=self.param_bytes, total_bytes=self.total_bytes)
        return d


def _state_ptrs(model: nn.Module) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}


def _storage_bytes(tensors) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.numel() > 0:
            st = t.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
    return sum(seen.values())


class _SavedTensors:
    """Collects the storages autograd saves, minus the model's own state."""

    def __init__(self, exclude: set[int]):
        self.exclude = exclude
        self.seen: dict[int, int] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        if t.numel() > 0:
            st = t.untyped_storage()
            ptr = st.data_ptr()
            if ptr not in self.exclude:
                self.seen[ptr] = st.nbytes()
        return t

    @staticmethod
    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    @property
    def bytes(self) -> int:
        return sum(self.seen.values())


def saved_activation_bytes(model: nn.Module, batch: Any, *,
                           step: Callable[[nn.Module, Any], StepOutput] = classification_step) -> int:
    """Bytes autograd saves for backward in one forward pass of ``step`` (training mode)."""
    was = model.training
    model.train()
    rec = _SavedTensors(_state_ptrs(model))
    try:
        with torch.autograd.graph.saved_tensors_hooks(rec.pack, rec.unpack):
            out = step(model, batch)
        del out
    finally:
        model.train(was)
    return rec.bytes


def peak_from_events(events: list[tuple[int, int]], start_bytes: int = 0) -> int:
    """The high-water mark of ``start_bytes`` plus the running sum of
    (time, +allocated / -freed bytes) events taken in time order."""
    live = peak = start_bytes
    for _, nbytes in sorted(events, key=lambda e: e[0]):
        live += nbytes
        peak = max(peak, live)
    return peak


class _AllocatorPeak:
    """Context manager: allocations and frees of the CPU allocator while it is open
    (``torch.profiler`` with ``profile_memory=True``); ``peak(start_bytes)`` after it closes."""

    def __enter__(self) -> "_AllocatorPeak":
        from torch.profiler import ProfilerActivity, profile

        self._prof = profile(activities=[ProfilerActivity.CPU], profile_memory=True)
        self._prof.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._prof.__exit__(*exc)

    def events(self) -> list[tuple[int, int]]:
        out = []
        for e in self._prof.profiler.kineto_results.events():
            if e.name() == "[memory]" and str(e.device_type()).endswith("CPU"):
                out.append((int(e.start_ns()), int(e.nbytes())))
        return out

    def peak(self, start_bytes: int) -> int:
        return peak_from_events(self.events(), start_bytes)


def step_peak_bytes(fn: Callable[[], Any], *, live_before: int = 0) -> tuple[int, Any]:
    """Run ``fn()`` and return (allocator-level peak bytes during it + ``live_before``, its result)."""
    with _AllocatorPeak() as rec:
        out = fn()
    return rec.peak(live_before), out


def measure_training_memory(model: nn.Module, batch: Any, *,
                            make_optimizer: Callable[[list[nn.Parameter]], torch.optim.Optimizer],
                            step: Callable[[nn.Module, Any], StepOutput] = classification_step) -> MemoryBreakdown:
    """One real training step (forward, backward, optimiser step) on a copy of ``model``."""
    m = copy.deepcopy(model)
    m.train()
    trainable = [p for p in m.parameters() if p.requires_grad]
    opt = make_optimizer(trainable)
    rec = _SavedTensors(_state_ptrs(m))
    inputs = [t for t in (batch if isinstance(batch, (list, tuple)) else [batch]) if isinstance(t, torch.Tensor)]
    live_before = _storage_bytes([*m.parameters(), *m.buffers(), *inputs])
    opt.zero_grad(set_to_none=True)

    def whole_step() -> StepOutput:
        with torch.autograd.graph.saved_tensors_hooks(rec.pack, rec.unpack):
            o = step(m, batch)
        o.loss.backward()
        opt.step()
        return o

    peak, out = step_peak_bytes(whole_step, live_before=live_before)
    batch_size = int(batch[0].shape[0]) if isinstance(batch, (list, tuple)) else int(out.count or 1)
    frozen = [p for p in m.parameters() if not p.requires_grad] + list(m.buffers())
    state_tensors = [v for st in opt.state.values() for v in st.values() if isinstance(v, torch.Tensor)]
    return MemoryBreakdown(
        batch_size=batch_size, activation_bytes=rec.bytes, trainable_param_bytes=_storage_bytes(trainable),
        frozen_param_bytes=_storage_bytes(frozen), grad_bytes=_storage_bytes([p.grad for p in trainable]),
        optimizer_bytes=_storage_bytes(state_tensors), peak_bytes=peak)


def analytic_memory(model: nn.Module, input_shape: tuple[int, int, int], *, batch_size: int,
                    frozen_bits: int = 8, act_bytes: int = 4) -> AnalyticMemory:
    """The paper's count for a model built from stock layers with ``requires_grad``
    set for a method (``apply_method``'s output, before ``make_efficient``)."""
    cost = profile_model(model, (torch.zeros((1, *input_shape)),))
    modules = dict(model.named_modules())
    layers: list[dict[str, Any]] = []
    stored = 0.0
    peak = 0.0
    upstream_trainable = False
    for lc in cost.layers:
        mod = modules.get(lc.name)
        if mod is None:
            continue
        own_trainable = any(p.requires_grad for p in mod.parameters(recurse=False))
        weight = getattr(mod, "weight", None)
        store = 0.0
        if isinstance(mod, _WEIGHTED) and isinstance(weight, torch.Tensor) and weight.requires_grad:
            store = lc.input_elems * act_bytes
        elif isinstance(mod, _ACTS) and upstream_trainable:
            store = lc.input_elems / 8.0
        working = (max(lc.input_elems, lc.output_elems) if isinstance(mod, _INPLACE)
                   else lc.input_elems + lc.output_elems) * act_bytes
        peak = max(peak, stored + working)
        stored += store
        upstream_trainable = upstream_trainable or own_trainable
        layers.append({"name": lc.name, "op": lc.op, "stored_bytes": store, "input_elems": lc.input_elems,
                       "output_elems": lc.output_elems})
    peak = max(peak, stored)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    return AnalyticMemory(batch_size=batch_size, stored_bytes_per_sample=stored, peak_activation_bytes_per_sample=peak,
                          trainable_param_bytes=trainable * 4.0, frozen_param_bytes=frozen * frozen_bits / 8.0,
                          frozen_bits=frozen_bits, layers=layers)


def fits_profile(profile: Any, *, activation_bytes: float, trainable_param_bytes: float, frozen_param_bytes: float,
                 grad_bytes: float = 0.0, optimizer_bytes: float = 0.0,
                 peak_bytes: float | None = None) -> tuple[bool, str]:
    """Whether a training step fits ``profile``'s memory, and why (not).

    ``peak_bytes``: the measured high-water mark of the whole step (it holds
    the transient buffers the breakdown leaves out); when given, the step
    needs at least that in all, and that less the frozen weights as mutable
    memory.

    Any device: everything must fit ``memory_capacity_mb``. A microcontroller
    (``kind == "mcu"``): the mutable state (activations, trainable parameters,
    gradients, optimiser state) must fit on-chip SRAM (``onchip_memory_kb``),
    and the frozen weights fit flash (``storage_mb``) when it is given.
    """
    capacity = float(profile.memory_capacity_mb) * MB
    mutable = activation_bytes + trainable_param_bytes + grad_bytes + optimizer_bytes
    total = mutable + frozen_param_bytes
    if peak_bytes is not None:
        mutable = max(mutable, float(peak_bytes) - frozen_param_bytes)
        total = max(total, float(peak_bytes))
    if getattr(profile, "kind", "") == "mcu":
        sram = min(float(profile.onchip_memory_kb) * 1024, capacity)
        flash = float(getattr(profile, "storage_mb", 0.0) or 0.0) * MB
        if mutable > sram:
            return False, f"needs {mutable / 1024:.0f} KB of SRAM; {profile.name} has {sram / 1024:.0f} KB"
        if flash > 0:
            if frozen_param_bytes > flash:
                return False, (f"frozen weights need {frozen_param_bytes / MB:.2f} MB of flash; "
                               f"{profile.name} has {flash / MB:.2f} MB")
        elif total > sram:
            return False, f"needs {total / 1024:.0f} KB in all; {profile.name} has {sram / 1024:.0f} KB"
        return True, f"{mutable / 1024:.0f} KB SRAM of {sram / 1024:.0f} KB"
    if total > capacity:
        return False, f"needs {total / MB:.1f} MB; {profile.name} has {capacity / MB:.0f} MB"
    return True, f"{total / MB:.1f} MB of {capacity / MB:.0f} MB"
