"""Exports of a network: ONNX (the legacy exporter: no onnxscript needed) and
TorchScript (traced), and its blocks for drawing. An encoder-decoder (a
module with ``encode`` and ``step``, HAT's SubTransformer) also exports as
HAT deploys it: the encoder, run once per sentence, and one decoder step
with its self-attention cache in and out (:func:`export_onnx_split`), each
checked by ``onnx.checker`` and, where onnxruntime is installed, run beside
PyTorch on a short greedy decode."""
from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..problems import Problem

__all__ = ["export_onnx", "export_torchscript", "export_model", "blocks", "EXPORT_FORMATS", "SPLIT_FILES",
           "can_split", "export_onnx_split", "SplitExportError"]

#: what the CLI writes (``onnx-split``: an encoder-decoder's encoder.onnx and decoder_step.onnx into a folder)
EXPORT_FORMATS = ("safetensors", "onnx", "torchscript", "onnx-split")
_IO_NAMES = {"image-classification": (["image"], ["logits"]),
             "sequence-to-sequence": (["source", "target"], ["logits"]),
             "pose-forecast": (["poses"], ["future"])}


def _names(problem: Problem | None, n_inputs: int) -> tuple[list[str], list[str]]:
    ins, outs = _IO_NAMES.get(problem.kind if problem else "", ([f"input{i}" for i in range(n_inputs)], ["output"]))
    return ins[:n_inputs], outs


def export_onnx(model: nn.Module, example_inputs: Sequence[torch.Tensor], path: str | Path,
                problem: Problem | None = None) -> Path:
    """An ONNX file of ``model`` traced on ``example_inputs``, batch dimension dynamic."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = tuple(example_inputs)
    ins, outs = _names(problem, len(x))
    dyn = {n: {0: "batch"} for n in (*ins, *outs)}
    with torch.no_grad():
        torch.onnx.export(model.eval(), x, str(path), input_names=ins, output_names=outs, dynamic_axes=dyn,
                          opset_version=17, dynamo=False)
    return path


#: the split export's files: format name -> file name in a network's folder
SPLIT_FILES = {"onnx-encoder": "encoder.onnx", "onnx-decoder-step": "decoder_step.onnx"}


class SplitExportError(RuntimeError):
    """The split export failed its check (onnx.checker, or onnxruntime against PyTorch)."""


def can_split(model: nn.Module) -> bool:
    """Whether ``model`` is an encoder-decoder that decodes step by step (``encode`` / ``step``)."""
    return callable(getattr(model, "encode", None)) and callable(getattr(model, "step", None)) \
        and hasattr(getattr(model, "decoder", None), "layers")


class _Encoder(nn.Module):
    """source (B, S) -> per decoder layer i: the keys and values its ende
    attention reads and their mask (``mem_k_{i}``, ``mem_v_{i}``, ``mem_mask_{i}``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, source: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mem = self.model.encode(source)
        out: list[torch.Tensor] = []
        for (k, v), m in zip(mem.kv, mem.masks):
            out += [k, v, m if m is not None else torch.ones(k.shape[0], 1, 1, k.shape[2], dtype=torch.bool)]
        return tuple(out)


class _DecoderStep(nn.Module):
    """One step: the newest token (B, 1), the encoder's outputs and the cache
    of earlier positions (``past_k_{i}`` / ``past_v_{i}``, (B, heads, T, d); T = 0
    at the first step, which is also the position) -> logits (B, vocab) and
    the cache with this position added (``present_k_{i}`` / ``present_v_{i}``)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.n = len(model.decoder.layers)

    def forward(self, token: torch.Tensor, *flat: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from ..nn.transformer import Memory

        n = self.n
        mem, past = flat[:3 * n], flat[3 * n:]
        memory = Memory([(mem[3 * i], mem[3 * i + 1]) for i in range(n)], [mem[3 * i + 2] for i in range(n)])
        cache = [(past[2 * i], past[2 * i + 1]) for i in range(n)]
        logits, new = self.model.step(token, past[0].shape[2], memory, cache)
        return (logits, *[t for kv in new for t in kv])


def _split_names(n: int) -> tuple[list[str], list[str], list[str], list[str]]:
    mem = [f"mem_{w}_{i}" for i in range(n) for w in ("k", "v", "mask")]
    past = [f"past_{w}_{i}" for i in range(n) for w in ("k", "v")]
    present = [f"present_{w}_{i}" for i in range(n) for w in ("k", "v")]
    return mem, past, present, ["token", *mem, *past]


def _empty_cache(model: nn.Module, batch: int, length: int) -> list[torch.Tensor]:
    out = []
    for layer in model.decoder.layers:
        a = layer.self_attn
        d = a.k_proj.out_features // a.heads
        out += [torch.zeros(batch, a.heads, length, d), torch.zeros(batch, a.heads, length, d)]
    return out


def export_onnx_split(model: nn.Module, problem: Problem, folder: str | Path, *, check_steps: int = 4,
                      atol: float = 1e-4) -> dict[str, Any]:
    """``folder/encoder.onnx`` and ``folder/decoder_step.onnx`` of an
    encoder-decoder (:func:`can_split`), batch, source length and cache length
    dynamic; both pass ``onnx.checker``; with onnxruntime installed a greedy
    decode of ``check_steps`` tokens from the problem's example source runs in
    both and the largest logit difference must be within ``atol``
    (:class:`SplitExportError` otherwise; files are written under temporary
    names and renamed only when the check passes). Returns the files and the
    check: ``{"files": {format: path}, "checker": "passed",
    "onnxruntime_max_abs_diff": float | None, "onnxruntime": version | None}``."""
    import onnx

    if not can_split(model):
        raise SplitExportError(f"{type(model).__name__} has no encode / step: not an encoder-decoder to split")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    n = len(model.decoder.layers)
    mem_names, past_names, present_names, step_inputs = _split_names(n)
    src = problem.example_inputs(1)[0] if problem is not None else torch.randint(4, 20, (1, 8))
    src = src[:1]
    tag = uuid.uuid4().hex[:12]
    tmp = {k: folder / f".{v}.{tag}.tmp" for k, v in SPLIT_FILES.items()}
    try:
        with torch.no_grad():
            enc_dyn = {"source": {0: "batch", 1: "source_len"}}
            # (each layer's memory is the last 1-3 encoder layers' outputs: a length of its own)
            mem_dyn = {m: {0: "batch", 2 if not m.startswith("mem_mask") else 3: f"memory_len_{m.rsplit('_', 1)[1]}"}
                       for m in mem_names}
            enc_dyn.update(mem_dyn)
            # (the wrappers made in eval mode: the exporter restores a module's mode afterwards, and a new
            # module's is training, which would switch the model's dropout on)
            torch.onnx.export(_Encoder(model).eval(), (src,), str(tmp["onnx-encoder"]), input_names=["source"],
                              output_names=mem_names, dynamic_axes=enc_dyn, opset_version=17, dynamo=False)
            mem = _Encoder(model).eval()(src)
            past = _empty_cache(model, 1, 2)  # traced at a cache of 2: the length stays an input
            token = torch.full((1, 1), 5, dtype=torch.long)
            dyn = {"token": {0: "batch"}, "logits": {0: "batch"}}
            dyn.update(mem_dyn)
            dyn.update({p: {0: "batch", 2: "past_len"} for p in past_names})
            dyn.update({p: {0: "batch", 2: "present_len"} for p in present_names})
            torch.onnx.export(_DecoderStep(model).eval(), (token, *mem, *past), str(tmp["onnx-decoder-step"]),
                              input_names=step_inputs, output_names=["logits", *present_names], dynamic_axes=dyn,
                              opset_version=17, dynamo=False)
        for path in tmp.values():
            onnx.checker.check_model(str(path))
        diff, version = _check_with_onnxruntime(model.eval(), src, tmp, n, check_steps)
        if diff is not None and not diff <= atol:
            raise SplitExportError(f"onnxruntime's logits differ from PyTorch's by {diff:.3g} (over {atol:g})")
        files = {}
        for k, name in SPLIT_FILES.items():
            tmp[k].replace(folder / name)
            files[k] = folder / name
    finally:
        for path in tmp.values():
            path.unlink(missing_ok=True)
    return {"files": files, "checker": "passed", "onnxruntime_max_abs_diff": diff, "onnxruntime": version}


def _check_with_onnxruntime(model: nn.Module, src: torch.Tensor, paths: dict[str, Path], n: int,
                            steps: int) -> tuple[float | None, str | None]:
    """Greedy decoding in onnxruntime (encoder once, then the step with its
    cache from zero length) beside PyTorch's ``step``: the largest |logit difference|."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None, None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    enc = ort.InferenceSession(str(paths["onnx-encoder"]), opts, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(paths["onnx-decoder-step"]), opts, providers=["CPUExecutionProvider"])
    mem_names, past_names, _, _ = _split_names(n)
    src = torch.cat([src, src[:, :3]], 1)  # a length other than the traced one: the axes are dynamic
    mem = enc.run(None, {"source": src.numpy()})
    feed_mem = dict(zip(mem_names, mem))
    past = [t.numpy() for t in _empty_cache(model, 1, 0)]
    token = torch.full((1, 1), 2, dtype=torch.long)  # BOS
    diff = 0.0
    with torch.no_grad():
        memory = model.encode(src)
        for k in range(len(memory.kv)):
            diff = max(diff, float(abs(memory.kv[k][0].numpy() - mem[3 * k]).max()))
        cache = None
        for pos in range(steps):
            ref, cache = model.step(token, pos, memory, cache)
            out = dec.run(None, {"token": token.numpy(), **feed_mem, **dict(zip(past_names, past))})
            diff = max(diff, float(abs(ref.numpy() - out[0]).max()))
            past = out[1:]
            token = ref.argmax(-1, keepdim=True)
    return diff, ort.__version__


def export_torchscript(model: nn.Module, example_inputs: Sequence[torch.Tensor], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.jit.trace(model.eval(), tuple(example_inputs)).save(str(path))
    return path


def export_model(model: nn.Module, example_inputs: Sequence[torch.Tensor], folder: Path, stem: str,
                 problem: Problem | None = None) -> tuple[Path, Path]:
    """ONNX and TorchScript files of ``model``: ``folder/stem.onnx``, ``folder/stem.pt``."""
    return (export_onnx(model, example_inputs, Path(folder) / f"{stem}.onnx", problem),
            export_torchscript(model, example_inputs, Path(folder) / f"{stem}.pt"))


def _units(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The drawable units: top-level children, with a Sequential of blocks
    (torchvision's ``features``, a ``blocks`` list) opened one level; a
    Sequential of plain layers (a conv-BN-ReLU stem) stays one unit."""
    out = []
    for name, child in model.named_children():
        if (isinstance(child, (nn.Sequential, nn.ModuleList)) and len(child) > 1
                and any(len(list(c.children())) for c in child)):
            out.extend((f"{name}.{n}", c) for n, c in child.named_children())
        else:
            out.append((name, child))
    return out


def blocks(model: nn.Module, example_inputs: Sequence[torch.Tensor]) -> list[dict[str, Any]]:
    """The network block by block, in execution order: name, type, a short
    description (the block's own ``extra_repr`` where it has one), output shape,
    parameters and MACs (from the cost model's leaf layers inside the block)."""
    from ..hardware.cost import profile_model

    units = _units(model)
    shapes: dict[str, list[int]] = {}
    order: list[str] = []
    hooks = []
    for name, mod in units:
        def hook(_m, _i, out, name=name):
            t = out[0] if isinstance(out, (tuple, list)) else out
            if isinstance(t, torch.Tensor) and name not in shapes:
                shapes[name] = list(t.shape)
                order.append(name)
        hooks.append(mod.register_forward_hook(hook))
    try:
        cost = profile_model(model.eval(), tuple(example_inputs))
    finally:
        for h in hooks:
            h.remove()
    mods = dict(units)
    rows = []
    for name in order + [n for n, _ in units if n not in shapes]:
        mod = mods[name]
        layers = [lc for lc in cost.layers if lc.name == name or lc.name.startswith(name + ".")]
        desc = mod.extra_repr() if type(mod).extra_repr is not nn.Module.extra_repr else ""
        rows.append({"name": name, "type": type(mod).__name__, "detail": desc[:200],
                     "out_shape": shapes.get(name), "params": sum(p.numel() for p in mod.parameters()),
                     "macs": int(sum(lc.macs for lc in layers)), "layers": len(layers)})
    return rows
