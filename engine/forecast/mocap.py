"""Real motion capture to 3-D keypoints: the DeepMimic clips pybullet ships
(``pybullet_data/data/motions/humanoid3d_*.txt``: per frame a duration, the
root position, the root rotation and each joint's rotation) through forward
kinematics of ``pybullet_data/humanoid/humanoid.urdf`` (parsed here: the
joints' parents and offsets), giving the COCO-17 keypoints in metres.

The motion files store quaternions as (w, x, y, z); knees and elbows are one
angle about the joint's z axis. The URDF is the DeepMimic humanoid at 4x
scale (pybullet loads it with ``globalScaling=0.25``), y up, the character
facing +x, its right side +z. COCO's face points (nose, eyes, ears) are fixed
points of the head (the neck link); the hips, knees, ankles, shoulders,
elbows and wrists are the URDF joints of those names.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["COCO_KEYPOINTS", "COCO_LIMBS", "MOTIONS", "LOCOMOTION", "Motion", "data_path", "load_motion",
           "motion_names", "forward_kinematics", "MocapError"]

#: the COCO-17 keypoint order
COCO_KEYPOINTS = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
                  "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
                  "right_knee", "left_ankle", "right_ankle")
#: COCO's skeleton as index pairs (the limbs drawn and rendered)
COCO_LIMBS = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
              (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6))
MOTIONS = ("walk", "run", "jump", "kick", "punch", "spin", "spinkick", "dance_a", "dance_b", "cartwheel", "crawl",
           "roll", "backflip", "getup_faceup", "getup_facedown")
#: clips whose root travels: used for walking along a path
LOCOMOTION = ("walk", "run")
#: the motion file's layout after the duration, root position and root rotation
_LAYOUT = (("chest", 4), ("neck", 4), ("right_hip", 4), ("right_knee", 1), ("right_ankle", 4),
           ("right_shoulder", 4), ("right_elbow", 1), ("left_hip", 4), ("left_knee", 1), ("left_ankle", 4),
           ("left_shoulder", 4), ("left_elbow", 1))
_SCALE = 0.25
#: points of the head in the neck link's frame (URDF units): nose, eyes, ears
_FACE = {"nose": (0.42, 0.72, 0.0), "left_eye": (0.36, 0.86, -0.14), "right_eye": (0.36, 0.86, 0.14),
         "left_ear": (0.05, 0.78, -0.36), "right_ear": (0.05, 0.78, 0.36)}


class MocapError(ValueError):
    """A motion file or the URDF that cannot be read."""


def data_path() -> Path:
    """pybullet_data's folder (the package ships the motions and the URDF)."""
    try:
        import pybullet_data
    except ImportError as e:  # pragma: no cover - pinned in requirements
        raise MocapError("pybullet is not installed (pip install pybullet; it ships the DeepMimic motions)") from e
    return Path(pybullet_data.getDataPath())


def motion_names() -> tuple[str, ...]:
    """The DeepMimic clips present in the installed pybullet_data."""
    folder = data_path() / "data" / "motions"
    return tuple(m for m in MOTIONS if (folder / f"humanoid3d_{m}.txt").is_file())


@dataclass(frozen=True)
class _Joint:
    name: str
    parent: str
    offset: np.ndarray  # in the parent link's frame, metres
    kind: str


@lru_cache(maxsize=1)
def _skeleton() -> dict[str, _Joint]:
    """The URDF's joints by child link name, offsets scaled to metres."""
    path = data_path() / "humanoid" / "humanoid.urdf"
    try:
        # the shipped file ends in a NUL byte, which XML refuses
        root = ET.fromstring(path.read_bytes().rstrip(b"\x00\r\n "))
    except (OSError, ET.ParseError) as e:
        raise MocapError(f"{path}: {e}") from None
    joints = {}
    for j in root.iter("joint"):
        parent, child, origin = j.find("parent"), j.find("child"), j.find("origin")
        xyz = np.array([float(v) for v in (origin.get("xyz") if origin is not None else "0 0 0").split()])
        rpy = origin.get("rpy", "0 0 0") if origin is not None else "0 0 0"
        if any(float(v) != 0.0 for v in rpy.split()):
            raise MocapError(f"{path}: joint {j.get('name')} has a rotated origin, which this reader does not handle")
        joints[child.get("link")] = _Joint(j.get("name"), parent.get("link"), xyz * _SCALE, j.get("type"))
    needed = {n for n, _ in _LAYOUT} | {"root", "right_wrist", "left_wrist"}
    missing = sorted(needed - set(joints))
    if missing:
        raise MocapError(f"{path}: no joint for links {', '.join(missing)}")
    return joints


@dataclass(frozen=True)
class Motion:
    """One clip: ``root`` (F, 3) positions, ``root_rot`` (F, 4) and per joint its
    rotation (F, 4) or angle (F, 1); ``dt`` seconds per frame."""

    name: str
    dt: float
    root: np.ndarray
    root_rot: np.ndarray
    joints: dict[str, np.ndarray]

    @property
    def frames(self) -> int:
        return int(self.root.shape[0])

    @property
    def duration(self) -> float:
        return self.frames * self.dt


@lru_cache(maxsize=32)
def load_motion(name: str) -> Motion:
    """A DeepMimic clip by name (``walk``, ``kick`` …)."""
    if name not in MOTIONS:
        raise MocapError(f"unknown motion {name!r}; known: {', '.join(MOTIONS)}")
    path = data_path() / "data" / "motions" / f"humanoid3d_{name}.txt"
    try:
        frames = np.asarray(json.loads(path.read_text())["Frames"], dtype=np.float64)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MocapError(f"{path}: not a DeepMimic motion file ({e})") from None
    width = 1 + 3 + 4 + sum(n for _, n in _LAYOUT)
    if frames.ndim != 2 or frames.shape[1] != width or len(frames) < 2 or not np.isfinite(frames).all():
        raise MocapError(f"{path}: expected frames of {width} finite numbers")
    joints, i = {}, 8
    for jname, n in _LAYOUT:
        joints[jname] = frames[:, i:i + n]
        i += n
    dt = float(np.median(frames[:-1, 0])) or 1 / 30
    return Motion(name, dt, frames[:, 1:4], frames[:, 4:8], joints)


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions (w, x, y, z) to (N, 3, 3) rotation matrices."""
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return np.stack([
        np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
        np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
        np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)


def _z_matrix(a: np.ndarray) -> np.ndarray:
    c, s, o, i = np.cos(a), np.sin(a), np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1), np.stack([o, o, i], -1)], -2)


@lru_cache(maxsize=32)
def forward_kinematics(name: str) -> np.ndarray:
    """The clip's COCO-17 keypoints in metres, (F, 17, 3), y up (world frame of the motion)."""
    m, skel = load_motion(name), _skeleton()
    pos = {"root": m.root}
    rot = {"root": _quat_matrix(m.root_rot)}
    order = ["chest", "neck", "right_hip", "right_knee", "right_ankle", "right_shoulder", "right_elbow",
             "right_wrist", "left_hip", "left_knee", "left_ankle", "left_shoulder", "left_elbow", "left_wrist"]
    for link in order:
        j = skel[link]
        pos[link] = pos[j.parent] + np.einsum("fij,j->fi", rot[j.parent], j.offset)
        if link in m.joints:
            q = m.joints[link]
            local = _z_matrix(q[:, 0]) if q.shape[1] == 1 else _quat_matrix(q)
            rot[link] = rot[j.parent] @ local
        else:
            rot[link] = rot[j.parent]
    out = np.zeros((m.frames, 17, 3))
    for k, kp in enumerate(COCO_KEYPOINTS):
        if kp in _FACE:
            out[:, k] = pos["neck"] + np.einsum("fij,j->fi", rot["neck"], np.asarray(_FACE[kp]) * _SCALE)
        else:
            out[:, k] = pos[kp]
    return out
