"""Gradient-inversion attacks: rebuild a client's images from its shared gradient.

- :func:`dlg` — Deep Leakage from Gradients (Zhu, Liu & Han, 2019): dummy
  images *and* dummy soft labels, L-BFGS on the summed squared distance between
  the dummy gradient and the shared one.
- :func:`idlg` — improved DLG (Zhao, Mopuri & Bilen, 2020): the label is read
  off the sign of the last linear layer's weight gradient (with softmax
  cross-entropy and non-negative features, only the true class's row has a
  negative sum), then only the image is optimised.
- :func:`inverting_gradients` — Geiping et al. (2020): 1 - cosine similarity
  of the gradients plus total variation, signed Adam steps with step decay at
  3/8, 5/8 and 7/8 of the run, images kept in the [0, 1] box; for deeper nets.

All are plain functions of a model, the shared gradient and a seeded
``torch.Generator``. ``callback(iteration, loss, images)`` runs after every
step; it may return True to stop early (or raise, e.g. ``Cancelled``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .victims import last_linear_index

__all__ = ["AttackResult", "AttackSettings", "METHODS", "DEFAULT_STEPS", "INITS", "dummy_images", "shared_gradients", "infer_labels",
           "l2_distance", "cosine_distance", "total_variation", "dlg", "idlg", "inverting_gradients", "run_attack"]

METHODS = ("dlg", "idlg", "ig")
#: Steps of each method's reference setting (L-BFGS steps of 20 inner iterations for DLG/iDLG).
DEFAULT_STEPS = {"dlg": 300, "idlg": 300, "ig": 2000}

#: How dummy images are drawn: N(0, 1) as in the DLG reference code, or U(0, 1).
INITS = ("uniform", "normal")

Callback = Callable[[int, float, torch.Tensor], "bool | None"]


@dataclass
class AttackResult:
    method: str
    images: torch.Tensor  #: (B, C, H, W) reconstruction, clamped to [0, 1]
    labels: torch.Tensor  #: (B,) labels the attack ended with (argmax of dummy labels, or inferred)
    iterations: int  #: optimiser steps run (an L-BFGS step holds up to ``max_iter`` evaluations)
    evaluations: int  #: gradient-matching loss evaluations
    losses: list[float] = field(default_factory=list)  #: loss after each step
    wall_s: float = 0.0
    diverged: bool = False  #: the loss became NaN/inf; ``images`` are the best finite ones
    #: the optimiser stopped improving (no relative gain over ``stall_steps`` steps, or NaN); its idle steps
    #: are not in ``iterations``
    stalled: bool = False
    fallback_steps: int = 0  #: Adam steps run after L-BFGS stalled (up to the last improving one)
    gradient_loss: float = math.inf  #: the best gradient distance reached (what restarts are chosen by)
    restart: int = 0  #: which restart the result comes from
    restart_losses: list[float] = field(default_factory=list)  #: every restart's best gradient distance


@dataclass(frozen=True)
class AttackSettings:
    steps: int = 0  #: 0: the method's default (DEFAULT_STEPS)
    lbfgs_lr: float = 1.0
    history_size: int = 100
    max_iter: int = 20
    adam_lr: float = 0.1
    tv_weight: float = 0.05
    tol: float = 1e-12  #: stop once the gradient distance is below this
    #: "strong_wolfe" or None (the DLG reference: a full step each iteration, which now and then
    #: jumps into saturated sigmoids where L-BFGS stalls for good)
    line_search: str | None = "strong_wolfe"
    #: dummy images drawn from "normal" N(0, 1) (the DLG reference) or "uniform" U(0, 1) (inside the
    #: image box: for batches of RGB photos on LeNet it is what lets L-BFGS converge, see bench/dlg.py)
    init: str = "uniform"
    restarts: int = 1  #: independent dummy starts; the one with the best gradient match is kept
    lbfgs_tv: float = 0.0  #: total-variation weight in the L-BFGS objective (dlg/idlg)
    stall_steps: int = 25  #: k: stalled when the best loss gained less than ``stall_rtol`` over k steps (0: never)
    stall_rtol: float = 1e-4
    fallback: str = "adam"  #: "adam": continue with Adam once L-BFGS stalls; "none": stop there
    fallback_lr: float = 1e-3


def dummy_images(shape: tuple[int, ...], init: str, generator: torch.Generator) -> torch.Tensor:
    """The attack's starting point: ``init`` is "normal" (N(0, 1)) or "uniform" (U(0, 1))."""
    if init == "normal":
        return torch.randn(shape, generator=generator)
    if init == "uniform":
        return torch.rand(shape, generator=generator)
    raise ValueError(f"unknown init {init!r}; known: {', '.join(INITS)}")


def _params(model: nn.Module) -> list[torch.Tensor]:
    return list(model.parameters())


def shared_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    """The gradient a client would share: of the mean cross-entropy of (x, y),
    one tensor per ``model.parameters()`` entry."""
    loss = F.cross_entropy(model(x), y)
    return [g.detach() for g in torch.autograd.grad(loss, _params(model))]


def infer_labels(model: nn.Module, grads: list[torch.Tensor], batch_size: int, *,
                 shape: tuple[int, ...] | None = None, generator: torch.Generator | None = None,
                 probes: int = 64) -> torch.Tensor:
    """Labels read off the last linear layer's gradient, without optimisation.

    One image (iDLG, Zhao et al. 2020): argmin of the row sums of the weight
    gradient (exact with softmax cross-entropy and non-negative features).

    A batch: the row-sum rule fails as soon as one class dominates the
    network's outputs (that class's row turns positive even when it is in the
    batch), so the label *counts* are restored analytically instead, as in
    Geng et al. 2021 ("Towards general deep leakage in federated learning"):
    the bias gradient of class c is ``mean_i p_ic - n_c / B``, hence
    ``n_c = B (p_c - grad_b_c)`` with the mean softmax ``p_c`` estimated from
    ``probes`` dummy inputs U(0, 1) of ``shape`` (needs ``shape``, a
    ``generator`` and a bias on the last layer; else the most negative rows).
    Labels are then handed out one at a time to the class with the largest
    remaining count, so repeated labels are allowed."""
    idx = last_linear_index(model)
    w = grads[idx]
    score = w.reshape(w.shape[0], -1).sum(1)
    k = min(batch_size, score.numel())
    has_bias = idx + 1 < len(grads) and grads[idx + 1].shape == (w.shape[0],)
    if batch_size == 1 or shape is None or generator is None or not has_bias:
        return torch.argsort(score)[:k].sort().values
    with torch.no_grad():
        dummy = torch.rand((probes, *shape[1:]), generator=generator)
        p_mean = F.softmax(model(dummy), dim=-1).mean(0)
    counts = batch_size * (p_mean - grads[idx + 1].detach())
    labels = []
    for _ in range(batch_size):
        c = int(torch.argmax(counts))
        labels.append(c)
        counts[c] -= 1.0
    return torch.tensor(sorted(labels), dtype=torch.long)


def l2_distance(a: list[torch.Tensor], b: list[torch.Tensor]) -> torch.Tensor:
    return sum(((x - y) ** 2).sum() for x, y in zip(a, b))  # type: ignore[return-value]


def cosine_distance(a: list[torch.Tensor], b: list[torch.Tensor], eps: float = 1e-12) -> torch.Tensor:
    dot = sum((x * y).sum() for x, y in zip(a, b))
    na = torch.sqrt(sum((x * x).sum() for x in a))  # type: ignore[arg-type]
    nb = torch.sqrt(sum((y * y).sum() for y in b))  # type: ignore[arg-type]
    return 1.0 - dot / (na * nb + eps)


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic TV: mean absolute difference of neighbouring pixels."""
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def _soft_cross_entropy(logits: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.sum(-F.softmax(soft, dim=-1) * F.log_softmax(logits, dim=-1), dim=1))


def _stalled(losses: list[float], k: int, rtol: float) -> bool:
    """No relative improvement of at least ``rtol`` on the best loss over the last ``k`` steps."""
    if k <= 0 or len(losses) <= k:
        return False
    before = min(losses[:-k])
    return min(losses[-k:]) > before * (1.0 - rtol)


def dlg(model: nn.Module, target: list[torch.Tensor], *, shape: tuple[int, ...], num_classes: int,
        generator: torch.Generator, labels: torch.Tensor | None = None, steps: int = 300, lr: float = 1.0,
        history_size: int = 100, max_iter: int = 20, tol: float = 1e-12,
        line_search: str | None = "strong_wolfe", init: str = "uniform", tv_weight: float = 0.0,
        stall_steps: int = 0, stall_rtol: float = 1e-4, fallback: str = "none", fallback_lr: float = 1e-3,
        callback: Callback | None = None) -> AttackResult:
    """L-BFGS gradient matching. ``labels=None``: DLG (soft labels are learned
    too); given labels: only the images are optimised (iDLG's second stage).
    ``init``: how the dummy images are drawn (:func:`dummy_images`);
    ``tv_weight``: total variation of the dummy images added to the objective.

    Stall detection (``stall_steps`` k > 0): when the best gradient distance has
    not improved by a relative ``stall_rtol`` over k steps, or the loss turns
    NaN/inf, the optimiser has stalled; the idle steps are not counted as
    iterations (``iterations`` is the last step that gained at least ``stall_rtol``) and ``stalled`` is
    set. A run that did not stall counts every step it ran. ``fallback="adam"`` then continues from the best images with Adam
    (``fallback_lr``) for the evaluations the remaining L-BFGS steps would have
    had (``max_iter`` per step), stopping on its own stall; its steps are
    ``fallback_steps``."""
    t0 = time.perf_counter()
    params = _params(model)
    x = dummy_images(shape, init, generator).requires_grad_(True)
    learn_labels = labels is None
    soft = torch.randn((shape[0], num_classes), generator=generator).requires_grad_(True) if learn_labels else None
    variables = [x, soft] if soft is not None else [x]
    opt = torch.optim.LBFGS(variables, lr=lr, history_size=history_size, max_iter=max_iter,
                            line_search_fn=line_search)
    evaluations = 0

    def matching_loss(create_graph: bool) -> torch.Tensor:
        logits = model(x)
        loss = _soft_cross_entropy(logits, soft) if soft is not None else F.cross_entropy(logits, labels)
        grads = torch.autograd.grad(loss, params, create_graph=create_graph)
        return l2_distance(grads, target)

    def objective() -> tuple[torch.Tensor, torch.Tensor]:
        d = matching_loss(True)
        return (d + tv_weight * total_variation(x) if tv_weight > 0 else d), d

    def closure() -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        obj, _ = objective()
        gs = torch.autograd.grad(obj, variables)
        for v, g in zip(variables, gs):
            v.grad = g
        return obj.detach()

    losses: list[float] = []
    best_x = x.detach().clone()
    best_soft = soft.detach().clone() if soft is not None else None
    best_loss = math.inf
    productive_it = 0  # the last step that gained at least stall_rtol on the best loss before it
    diverged = stalled = stopped = False
    it = 0
    for it in range(1, steps + 1):
        opt.step(closure)
        loss = float(matching_loss(False))
        if not math.isfinite(loss) or not torch.isfinite(x).all():
            diverged = stalled = True
            break
        losses.append(loss)
        # against the best loss, as _stalled judges: a run of gains each under stall_rtol never makes a step
        # productive, so a stalled run's last stall_steps steps are never counted as iterations
        if loss < best_loss * (1.0 - stall_rtol):
            productive_it = it
        if loss < best_loss:
            best_loss = loss
            best_x = x.detach().clone()
            best_soft = soft.detach().clone() if soft is not None else None
        if callback is not None and callback(it, loss, x.detach().clamp(0, 1)):
            stopped = True
            break
        if loss < tol:
            break
        if _stalled(losses, stall_steps, stall_rtol):
            stalled = True
            break
    # a stalled run's idle steps (gaining less than stall_rtol) are not iterations
    iterations = productive_it if stalled else len(losses)
    fallback_steps = 0
    if stalled and fallback == "adam" and not stopped and best_loss >= tol and it < steps:
        with torch.no_grad():
            x.copy_(best_x)
            if soft is not None:
                soft.copy_(best_soft)
        adam = torch.optim.Adam(variables, lr=fallback_lr)
        adam_losses: list[float] = []
        for j in range(1, (steps - it) * max_iter + 1):
            evaluations += 1
            obj, d = objective()
            gs = torch.autograd.grad(obj, variables)
            loss = float(d.detach())
            if not math.isfinite(loss) or not all(torch.isfinite(g).all() for g in gs):
                break
            adam_losses.append(loss)
            if loss < best_loss:
                best_loss = loss
                best_x = x.detach().clone()
                best_soft = soft.detach().clone() if soft is not None else None
                fallback_steps = j
            for v, g in zip(variables, gs):
                v.grad = g
            adam.step()
            losses.append(loss)
            if callback is not None and callback(it + j, loss, x.detach().clamp(0, 1)):
                break
            if loss < tol or _stalled(adam_losses, stall_steps * max_iter, stall_rtol):
                break
    out_labels = best_soft.argmax(1) if best_soft is not None else labels.detach().clone()  # type: ignore[union-attr]
    return AttackResult("dlg" if learn_labels else "idlg", best_x.clamp(0, 1), out_labels, iterations, evaluations,
                        losses, time.perf_counter() - t0, diverged, stalled=stalled, fallback_steps=fallback_steps,
                        gradient_loss=best_loss)


def idlg(model: nn.Module, target: list[torch.Tensor], *, shape: tuple[int, ...], generator: torch.Generator,
         **kwargs) -> AttackResult:
    """iDLG: labels from :func:`infer_labels`, then :func:`dlg` on the images alone."""
    kwargs.pop("num_classes", None)
    labels = infer_labels(model, target, shape[0], shape=shape, generator=generator)
    return dlg(model, target, shape=shape, num_classes=0, generator=generator, labels=labels, **kwargs)


def inverting_gradients(model: nn.Module, target: list[torch.Tensor], *, shape: tuple[int, ...],
                        labels: torch.Tensor, generator: torch.Generator, steps: int = 2000, lr: float = 0.1,
                        tv_weight: float = 0.05, init: str = "uniform",
                        callback: Callback | None = None) -> AttackResult:
    """Cosine distance + ``tv_weight`` x total variation, signed Adam, boxed to
    [0, 1]; the dummy images start as ``init`` (:func:`dummy_images`)."""
    t0 = time.perf_counter()
    params = _params(model)
    x = dummy_images(shape, init, generator).requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    milestones = sorted({max(1, int(steps * f)) for f in (3 / 8, 5 / 8, 7 / 8)})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    losses: list[float] = []
    best_x = x.detach().clamp(0, 1)
    diverged = False
    it = 0
    for it in range(1, steps + 1):
        grads = torch.autograd.grad(F.cross_entropy(model(x), labels), params, create_graph=True)
        rec = cosine_distance(grads, target)
        loss = rec + tv_weight * total_variation(x)
        (gx,) = torch.autograd.grad(loss, [x])
        if not torch.isfinite(loss) or not torch.isfinite(gx).all():
            diverged = True
            it -= 1
            break
        x.grad = gx.sign()
        opt.step()
        sched.step()
        with torch.no_grad():
            x.clamp_(0, 1)
        best_x = x.detach().clone()
        losses.append(float(rec.detach()))
        if callback is not None and callback(it, losses[-1], best_x):
            break
    return AttackResult("ig", best_x, labels.detach().clone(), it, it, losses, time.perf_counter() - t0, diverged,
                        stalled=diverged, gradient_loss=losses[-1] if losses else math.inf)


def run_attack(method: str, model: nn.Module, target: list[torch.Tensor], *, shape: tuple[int, ...],
               num_classes: int, generator: torch.Generator, settings: AttackSettings = AttackSettings(),
               callback: Callback | None = None) -> AttackResult:
    """Dispatch to one method with ``settings``; ``ig`` uses iDLG's inferred labels.

    ``settings.restarts`` > 1: that many attacks from successive dummy draws of
    ``generator``; the one with the smallest gradient distance is returned (the
    attacker sees only the gradient, so that is the only fair choice), with every
    restart's distance in ``restart_losses`` and the evaluations of all of them.
    The callback's iteration keeps counting across restarts; a restart that
    reaches ``settings.tol`` or is stopped by the callback ends the search."""
    if method not in METHODS:
        raise ValueError(f"unknown attack {method!r}; known: {', '.join(METHODS)}")
    if settings.restarts < 1:
        raise ValueError("restarts must be at least 1")
    if settings.fallback not in ("adam", "none"):
        raise ValueError(f"unknown fallback {settings.fallback!r}; known: adam, none")
    steps = settings.steps or DEFAULT_STEPS[method]
    labels = None
    if method in ("idlg", "ig"):
        labels = infer_labels(model, target, shape[0], shape=shape, generator=generator)
    best: AttackResult | None = None
    losses: list[float] = []
    evaluations = 0
    wall = 0.0
    offset = 0
    for r in range(settings.restarts):
        stop = [False]

        def cb(it: int, loss: float, images: torch.Tensor, offset=offset) -> bool:
            if callback is not None and callback(offset + it, loss, images):
                stop[0] = True
                return True
            return False

        if method in ("dlg", "idlg"):
            res = dlg(model, target, shape=shape, num_classes=num_classes, generator=generator, labels=labels,
                      steps=steps, lr=settings.lbfgs_lr, history_size=settings.history_size,
                      max_iter=settings.max_iter, tol=settings.tol, line_search=settings.line_search,
                      init=settings.init, tv_weight=settings.lbfgs_tv, stall_steps=settings.stall_steps,
                      stall_rtol=settings.stall_rtol, fallback=settings.fallback, fallback_lr=settings.fallback_lr,
                      callback=cb)
        else:
            res = inverting_gradients(model, target, shape=shape, labels=labels, generator=generator, steps=steps,
                                      lr=settings.adam_lr, tv_weight=settings.tv_weight, init=settings.init,
                                      callback=cb)
        offset += len(res.losses)
        losses.append(res.gradient_loss)
        evaluations += res.evaluations
        wall += res.wall_s
        if best is None or res.gradient_loss < best.gradient_loss:
            best = res
            best.restart = r
        if stop[0] or res.gradient_loss < settings.tol:
            break
    assert best is not None
    best.restart_losses = losses
    best.evaluations = evaluations
    best.wall_s = wall
    return best
