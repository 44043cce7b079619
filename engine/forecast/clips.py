"""Clips for forecasting: windows of ``observed + future`` frames cut from
scenes (composed, :mod:`.compose`, or a user's, :mod:`.userdata`), with every
person's COCO-17 pixel keypoints, padded to ``max_people`` with a mask.

Frames stay per scene as uint8 (``frames[s]``: (T, 3, H, W)); a clip is a
scene and a start frame, so the windows share memory. The background of a
scene is the per-pixel median of all its frames (a static camera, as the
paper's videos), the same rule for composed and user data.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["ClipSet", "make_clips", "with_pose_clips"]


@dataclass
class ClipSet:
    """``obs`` (N, P, To, 17, 2) and ``fut`` (N, P, Tf, 17, 2) pixel keypoints, ``mask`` (N, P) bool,
    ``depth`` (N, P) metres or pixels (larger is farther) at the last observed frame, ``scene`` / ``start``
    (N,) where each clip comes from; ``frames[s]`` (T, 3, H, W) uint8 and ``background[s]`` (3, H, W) uint8
    per scene; ``names[s]`` a scene's label."""

    obs: torch.Tensor
    fut: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    scene: torch.Tensor
    start: torch.Tensor
    frames: list[torch.Tensor]
    background: list[torch.Tensor]
    names: list[str]
    size: int
    groups: torch.Tensor | None = None  # (N, P, To + Tf) true group ids (composed scenes), -1 for padding
    cued: torch.Tensor | None = None  # (N, P) bool: the person's future holds a change caused by someone
    #                                   else's action in the observed frames (composed scenes)


    def __len__(self) -> int:
        return int(self.obs.shape[0])

    @property
    def observed_frames(self) -> int:
        return int(self.obs.shape[2])

    @property
    def future_frames(self) -> int:
        return int(self.fut.shape[2])

    def clip_frames(self, idx: torch.Tensor) -> torch.Tensor:
        """(len(idx), To + Tf, 3, H, W) float frames in [0, 1] of clips ``idx``."""
        T = self.observed_frames + self.future_frames
        out = [self.frames[int(self.scene[i])][int(self.start[i]):int(self.start[i]) + T] for i in idx]
        return torch.stack(out).float() / 255.0

    def backgrounds(self, idx: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.background[int(self.scene[i])] for i in idx]).float() / 255.0

    def subset(self, idx: torch.Tensor) -> "ClipSet":
        return ClipSet(self.obs[idx], self.fut[idx], self.mask[idx], self.depth[idx], self.scene[idx],
                       self.start[idx], self.frames, self.background, self.names, self.size,
                       None if self.groups is None else self.groups[idx],
                       None if self.cued is None else self.cued[idx])


def with_pose_clips(framed: ClipSet, poses_only: ClipSet) -> ClipSet:
    """The clips of both sets, for the pose models: ``poses_only``'s scenes have no frames (their
    ``clip_frames`` are empty), so the set is for what reads keypoints only; its ``size`` is ``framed``'s."""
    def cat(a, b):
        return None if a is None or b is None else torch.cat([a, b])

    n = len(framed.frames)
    return ClipSet(torch.cat([framed.obs, poses_only.obs]), torch.cat([framed.fut, poses_only.fut]),
                   torch.cat([framed.mask, poses_only.mask]), torch.cat([framed.depth, poses_only.depth]),
                   torch.cat([framed.scene, poses_only.scene + n]), torch.cat([framed.start, poses_only.start]),
                   framed.frames + poses_only.frames, framed.background + poses_only.background,
                   framed.names + poses_only.names, framed.size, cat(framed.groups, poses_only.groups),
                   cat(framed.cued, poses_only.cued))


def make_clips(scenes: list[tuple], *, observed: int, future: int, stride: int, max_people: int) -> ClipSet:
    """Windows of every scene. A scene is (frames (T, H, W, 3) uint8, poses (P, T, 17, 2), depth (P, T), name)
    and optionally the true groups (P, T) int and the cues (P, T) int (:class:`.compose.Scene`; kept when every
    scene has them);
    scenes with more than ``max_people`` people keep the ``max_people`` nearest the camera."""
    T = observed + future
    obs, fut, mask, depth, scene_i, start, grp = [], [], [], [], [], [], []
    with_groups = all(len(sc) > 5 and sc[4] is not None and sc[5] is not None for sc in scenes)
    cued = []
    frames, backgrounds, names = [], [], []
    size = 0
    for s, sc in enumerate(scenes):
        fr, poses, dep, name = sc[:4]
        size = max(size, int(fr.shape[1]))  # 0 for a scene of poses only (no frames drawn)
        frames.append(torch.from_numpy(np.ascontiguousarray(fr.transpose(0, 3, 1, 2))))
        backgrounds.append(torch.from_numpy(np.ascontiguousarray(
            (np.median(fr, axis=0) if fr.size else np.zeros(fr.shape[1:], fr.dtype)).astype(np.uint8)
            .transpose(2, 0, 1))))
        names.append(name)
        P = poses.shape[0]
        keep = np.argsort(dep.mean(1))[:max_people] if P > max_people else np.arange(P)
        for t0 in range(0, fr.shape[0] - T + 1, stride):
            o = np.zeros((max_people, observed, 17, 2), np.float32)
            f = np.zeros((max_people, future, 17, 2), np.float32)
            m = np.zeros(max_people, bool)
            d = np.zeros(max_people, np.float32)
            g = np.full((max_people, T), -1, np.int64)
            c = np.zeros(max_people, bool)
            for j, k in enumerate(keep):
                if with_groups:
                    g[j] = sc[4][k, t0:t0 + T]
                    cause = sc[5][k, t0 + observed:t0 + T]
                    c[j] = bool(((cause >= t0) & (cause < t0 + observed)).any())
                o[j] = poses[k, t0:t0 + observed]
                f[j] = poses[k, t0 + observed:t0 + T]
                m[j] = True
                d[j] = dep[k, t0 + observed - 1]
            obs.append(o), fut.append(f), mask.append(m), depth.append(d), scene_i.append(s), start.append(t0)
            grp.append(g), cued.append(c)
    if not obs:
        raise ValueError(f"no clip of {T} frames: every scene is shorter than observed + future frames")
    return ClipSet(torch.from_numpy(np.stack(obs)), torch.from_numpy(np.stack(fut)), torch.from_numpy(np.stack(mask)),
                   torch.from_numpy(np.stack(depth)), torch.tensor(scene_i), torch.tensor(start), frames, backgrounds,
                   names, size, torch.from_numpy(np.stack(grp)) if with_groups else None,
                   torch.from_numpy(np.stack(cued)) if with_groups else None)
