"""Multi-person clips composed from real motion capture (:mod:`.mocap`).

A scene is 1 to 8 people (``SceneConfig.min_people`` to ``max_people``) over a
real background photograph, in *units* whose members react to one another, so
that a person's future shows in someone else's observed past (see ``_Follow``,
``_Meet``, ``_Solo`` below): a leader whose followers copy its turns, stops and
speed-ups after a lag each (a follower may leave the group); two people who
walk up to each other, stop where they meet and face each other, one kicks or
punches and the other reacts after a lag (walks off, leaving the group, or
jumps aside); people on their own. ``Scene.groups`` keeps each person's true
group per frame (to check the pose model's group formation against). Every
body pose is a real mocap frame (the clip's root travel removed, the path's
position and heading put instead, blended over a quarter second when the clip
changes; standing is the walk clip's frame with the feet closest together,
held; a faster walk plays the walk clip faster); the 3-D COCO-17 keypoints are
projected by a pinhole camera. Each person is drawn as textured limbs whose
clothing is cut from real photographs (scikit-image, scikit-learn) and whose
skin tone is a pixel of a real face photograph (scikit-image's astronaut).
Everything comes from one seed, so a scene is the same on every machine.

The composed set, its scripts and its appearance are ours: it is labelled
"composed from real motion capture" wherever it is shown.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..cache import cache_dir
from .mocap import COCO_KEYPOINTS, LOCOMOTION, forward_kinematics, load_motion

__all__ = ["SceneConfig", "Scene", "compose_scene", "compose_scenes", "compose_poses", "ACTIONS", "SCRIPTS", "Camera",
           "ORIGIN_NOTE", "BACKGROUNDS", "CLOTHES"]

ORIGIN_NOTE = ("composed from real motion capture: pybullet's DeepMimic clips (forward kinematics of its humanoid "
               "URDF) in scripted groups that react to one another, clothing cut from real photographs, over a real "
               "background photograph")
ACTIONS = ("kick", "punch", "spinkick", "dance_a", "dance_b", "jump", "spin")
SCRIPTS = ("follow", "meet", "solo")  # the units a scene is made of (see _Follow, _Meet, _Solo)
BACKGROUNDS = ("china", "rocket", "brick", "gravel", "grass")
CLOTHES = ("astronaut", "coffee", "chelsea", "immunohistochemistry", "colorwheel", "rocket", "china", "flower",
           "brick", "gravel", "grass")
_VERSION = 2
_PEOPLE_LIMIT = 8  # people in a scene, at most
_BLEND_S = 0.25
_TURN_RATE = 5.0  # rad/s
_L = {k: i for i, k in enumerate(COCO_KEYPOINTS)}


@dataclass(frozen=True)
class SceneConfig:
    """A scene's frame side, frame rate, length and how many people (``min_people`` to ``max_people``, at most
    8); out-of-bounds values raise ``ValueError`` naming the field."""

    size: int = 64
    fps: int = 15
    seconds: float = 6.0
    max_people: int = 6
    min_people: int = 3

    def __post_init__(self) -> None:
        for name, lo, hi in (("size", 16, 512), ("fps", 5, 60), ("seconds", 0.5, 120.0),
                             ("max_people", 1, _PEOPLE_LIMIT), ("min_people", 1, _PEOPLE_LIMIT)):
            v = getattr(self, name)
            if not (lo <= v <= hi):
                raise ValueError(f"SceneConfig.{name} must be from {lo} to {hi}, not {v}")
        if self.min_people > self.max_people:
            raise ValueError(f"SceneConfig.min_people ({self.min_people}) is more than max_people ({self.max_people})")


@dataclass
class Scene:
    """One composed scene: ``frames`` (T, H, W, 3) uint8, ``poses`` (P, T, 17, 2)
    pixel coordinates (x, y), ``depth`` (P, T) metres from the camera,
    ``background`` (H, W, 3) uint8, the script (its units, e.g. ``follow3+meet+solo``), each person's clip
    per frame, ``groups`` (P, T) each person's true group per frame (the unit they interact in) and ``cues``
    (P, T): where a person starts a change caused by someone else's earlier action, that action's frame, else -1."""

    frames: np.ndarray
    poses: np.ndarray
    depth: np.ndarray
    background: np.ndarray
    script: str
    actions: list[list[str]]
    groups: np.ndarray
    cues: np.ndarray


# -- motion: real poses, the clip's root travel replaced by a path -----------------------------------------

def _local_clip(name: str) -> tuple[np.ndarray, float]:
    """Keypoints with the root's horizontal travel and the clip's heading removed: (F, 17, 3), dt."""
    kp = forward_kinematics(name).copy()
    m = load_motion(name)
    if name in LOCOMOTION:
        d = m.root[-1] - m.root[0]
        yaw = np.arctan2(-d[2], d[0])
    else:
        hip = kp[0, _L["right_hip"]] - kp[0, _L["left_hip"]]  # points to the right (+z when facing +x)
        yaw = np.arctan2(hip[0], hip[2])
    kp[:, :, 0] -= m.root[:, None, 0]
    kp[:, :, 2] -= m.root[:, None, 2]
    return _rot_y(kp, -yaw), m.dt


_LOCAL: dict[str, tuple[np.ndarray, float]] = {}


def _clip(name: str) -> tuple[np.ndarray, float]:
    if name not in _LOCAL:
        _LOCAL[name] = _local_clip(name)
    return _LOCAL[name]


def _rot_y(p: np.ndarray, a: float) -> np.ndarray:
    """Rotate points (..., 3) about y by ``a`` (x -> x cos a + z sin a; z -> -x sin a + z cos a)."""
    c, s = np.cos(a), np.sin(a)
    out = p.copy()
    out[..., 0] = c * p[..., 0] + s * p[..., 2]
    out[..., 2] = -s * p[..., 0] + c * p[..., 2]
    return out


def _speed(name: str) -> float:
    m = load_motion(name)
    d = m.root[-1] - m.root[0]
    return float(np.hypot(d[0], d[2]) / ((m.frames - 1) * m.dt))


def _heading_to(src: np.ndarray, dst: np.ndarray) -> float:
    d = dst - src
    return float(np.arctan2(-d[1], d[0]))  # yaw whose forward (cos a, -sin a) in (x, z) points at dst


def _turn(a: float, b: float, step: float) -> float:
    d = (b - a + np.pi) % (2 * np.pi) - np.pi
    return a + float(np.clip(d, -step, step))


# -- the people: units whose members react to one another -------------------------------------------------------
#
# A scene is a few *units* on their own lanes (depths), each a group with a documented interaction whose effect on
# a member's future shows in another member's past:
#
# - ``follow`` (2 to 4 people): a leader walks with followers beside and behind; the leader turns, stops, walks on,
#   speeds up (the walk clip played faster) or slows down, every 0.9 to 1.5 s, and turns back when about to leave the
#   view; each follower does the same after its own lag (0.35 to 0.8 s), so a follower's turn is foretold by the
#   leader's observed one. The last follower may leave the group (turns away on its own), which dissolves its
#   membership.
# - ``meet`` (2 people): they walk up to each other (one may wait a moment first) and stop when they meet, so the
#   stop point depends on the other's position; they face each other, one kicks or punches, and after a lag
#   (0.25 to 0.5 s) the other reacts: it turns away and walks off (leaving the group) or jumps aside.
# - ``solo`` (1 person): walks across, turning on its own at a random moment, or acts in place; a group of one.

_STAND = "stand"  # the walk clip held at its frame with the feet closest together: a real frame, held
_STAND_FRAME: list[int] = []
_VIEW_X, _VIEW_Z = 2.3, 1.7  # metres: a leader about to pass these turns back


def _stand_frame() -> int:
    if not _STAND_FRAME:
        kp, _ = _clip("walk")
        _STAND_FRAME.append(int(np.linalg.norm(kp[:, _L["left_ankle"]] - kp[:, _L["right_ankle"]], axis=-1).argmin()))
    return _STAND_FRAME[0]


def _pose_at(name: str, t: float) -> np.ndarray:
    """The clip's local pose at ``t`` seconds (looping), linearly between frames."""
    if name == _STAND:
        return _clip("walk")[0][_stand_frame()]
    kp, dt = _clip(name)
    f = (t / dt) % (len(kp) - 1)
    i = int(f)
    w = f - i
    return (1 - w) * kp[i] + w * kp[i + 1]


def _clip_seconds(name: str) -> float:
    kp, dt = _clip(name)
    return (len(kp) - 1) * dt


def _forward(a: float) -> np.ndarray:
    return np.array([np.cos(a), -np.sin(a)])


@dataclass
class _Agent:
    pos: np.ndarray
    heading: float
    group: int
    clip: str = _STAND
    rate: float = 1.0  # clip playback rate; the path's speed scales with it
    want: float | None = None  # heading to turn to
    face: int | None = None  # or the agent to turn to
    cue: float | None = None  # set when this frame starts a change someone else's earlier action caused: its time


class _Follow:
    """A leader and followers who copy the leader's turns, stops and speed changes after a lag each."""

    def __init__(self, rng, agents: list[_Agent], n: int, z: float, group: int, seconds: float):
        self.rng, self.first = rng, len(agents)
        d = 1.0 if rng.random() < 0.5 else -1.0
        h0 = 0.0 if d > 0 else np.pi
        lead = np.array([-d * rng.uniform(0.8, 2.0), z])
        self.h0 = h0
        self.lags = [0.0] + [float(rng.uniform(0.35, 0.8)) for _ in range(n - 1)]
        fwd, side = _forward(h0), _forward(h0 + np.pi / 2)
        offsets = [(0.0, 0.0), (0.75, 0.5), (0.75, -0.5), (1.5, 0.0)]
        for k in range(n):
            back, lat = offsets[k]
            agents.append(_Agent(lead - back * fwd + lat * side + rng.uniform(-0.08, 0.08, 2), h0, group))
        self.members = list(range(self.first, self.first + n))
        self.events: list[tuple[float, str, float]] = []  # (time, kind, value): the leader's
        t, stopped, fast, h = float(rng.uniform(0.5, 1.3)), False, False, h0
        while t < seconds - 0.5:  # an event every 0.9 to 1.5 s
            if stopped:
                kind = "go"
            else:
                kind = str(rng.choice(("turn", "turn", "stop", "slow" if fast else "speed")))
            v = self._turn_amount(z, h) if kind == "turn" else 0.0
            h += v
            stopped, fast = kind == "stop", (fast or kind == "speed") and kind != "slow"
            self.events.append((t, kind, v))
            t += float(rng.uniform(0.9, 1.5))
        self.detach = None
        if n >= 2 and rng.random() < 0.5:
            self.detach = (float(rng.uniform(1.5, max(1.6, seconds - 1.0))), self.members[-1],
                           float(rng.choice((-1.0, 1.0)) * rng.uniform(1.6, 2.4)), group + 1)
        self.rate0 = float(rng.uniform(0.85, 1.15))
        self._t, self._dt = 0.0, 1e-9

    def _turn_amount(self, z: float, heading: float) -> float:
        """A turn of 0.8 to 1.6 rad towards the middle of the scene (in depth)."""
        a = float(self.rng.uniform(0.8, 1.6))
        if abs(z) < 0.3:
            return a * float(self.rng.choice((-1.0, 1.0)))
        # forward z is -sin(heading + a): pick the sign that moves towards z = 0
        return a if -np.sin(heading + a) * z < 0 else -a

    def _state(self, t: float) -> tuple[float, str, float]:
        """The leader's (heading, clip, rate) at ``t`` from its events."""
        h, clip, rate = self.h0, "walk", self.rate0
        for te, kind, v in self.events:
            if te > t:
                break
            if kind == "turn":
                h += v
            elif kind == "stop":
                clip = _STAND
            elif kind == "go":
                clip = "walk"
            elif kind == "speed":
                rate = self.rate0 * 1.5
            elif kind == "slow":
                rate = self.rate0
        return h, clip, rate

    def control(self, t: float, agents: list[_Agent]) -> None:
        lead = agents[self.members[0]]
        h, clip, _ = self._state(t)
        # about to leave the view, heading out: turn back (an event of its own, copied by the followers)
        last = self.events[-1][0] if self.events else -9.0
        out = (abs(lead.pos[0]) > _VIEW_X and np.sign(_forward(h)[0]) == np.sign(lead.pos[0])) or \
              (abs(lead.pos[1]) > _VIEW_Z and np.sign(_forward(h)[1]) == np.sign(lead.pos[1]))
        if clip != _STAND and out and t - last > 0.8:
            centre = _heading_to(lead.pos, np.array([0.0, 0.0]))
            dh = (centre - h + np.pi) % (2 * np.pi) - np.pi
            self.events.append((t, "turn", float(dh)))
        for k, i in enumerate(self.members):
            a = agents[i]
            if self.detach is not None and i == self.detach[1] and t >= self.detach[0]:
                if a.group != self.detach[3]:
                    a.group, a.want, a.clip, a.rate = self.detach[3], a.heading + self.detach[2], "walk", 1.0
                continue
            a.want, a.clip, a.rate = self._state(t - self.lags[k])
            if k:  # a follower copying, now, an event of the leader's: cued by it
                for te, _, _ in self.events:
                    if t - self._dt < te + self.lags[k] <= t:
                        a.cue = te
        self._dt = 1e-9 if t == 0 else t - self._t
        self._t = t


class _Meet:
    """Two people walk up to each other, stop where they meet, one attacks, the other reacts after a lag."""

    def __init__(self, rng, agents: list[_Agent], z: float, group: int):
        self.a, self.b = len(agents), len(agents) + 1
        pa = np.array([-rng.uniform(1.5, 2.4), z + rng.uniform(-0.25, 0.25)])
        pb = np.array([rng.uniform(1.5, 2.4), z + rng.uniform(-0.25, 0.25)])
        agents.append(_Agent(pa, _heading_to(pa, pb), group))
        agents.append(_Agent(pb, _heading_to(pb, pa), group))
        self.wait = [0.0, 0.0]
        self.wait[int(rng.integers(2))] = float(rng.uniform(0.0, 1.2))
        self.rates = [float(rng.uniform(0.8, 1.3)) for _ in range(2)]
        self.meet_d = float(rng.uniform(0.8, 1.0))
        self.pause = float(rng.uniform(0.2, 0.6))
        self.attacker = int(rng.integers(2))
        self.attack = str(rng.choice(("kick", "punch", "spinkick")))
        self.lag = float(rng.uniform(0.25, 0.5))
        self.reaction = str(rng.choice(("flee", "jump")))
        self.solo_group = group + 1
        self.t_meet: float | None = None

    def control(self, t: float, agents: list[_Agent]) -> None:
        ids = (self.a, self.b)
        A, B = agents[self.a], agents[self.b]
        if self.t_meet is None and np.hypot(*(A.pos - B.pos)) < self.meet_d:
            self.t_meet = t
        if self.t_meet is None:
            for k, i in enumerate(ids):
                ag = agents[i]
                ag.face, ag.want = ids[1 - k], None
                ag.clip, ag.rate = ("walk", self.rates[k]) if t >= self.wait[k] else (_STAND, 1.0)
            return
        t_attack = self.t_meet + self.pause
        att, dfd = agents[ids[self.attacker]], agents[ids[1 - self.attacker]]
        att.face, att.rate = ids[1 - self.attacker], 1.0
        att.clip = self.attack if t_attack <= t < t_attack + _clip_seconds(self.attack) else _STAND
        t_react = t_attack + self.lag
        if t < t_react:
            dfd.face, dfd.want, dfd.clip, dfd.rate = ids[self.attacker], None, _STAND, 1.0
        elif self.reaction == "jump":
            if dfd.clip == _STAND and t < t_react + _clip_seconds("jump"):
                dfd.cue = t_attack
            dfd.face, dfd.clip, dfd.rate = ids[self.attacker], "jump" if t < t_react + _clip_seconds("jump") else _STAND, 1.0
        elif dfd.face is not None:  # turn away and walk off, leaving the group
            dfd.cue = t_attack
            dfd.want = _heading_to(att.pos, dfd.pos) + float(np.sign(dfd.pos[1] - att.pos[1] + 1e-9)) * 0.6
            dfd.face, dfd.clip, dfd.rate, dfd.group = None, "walk", 1.3, self.solo_group


class _Solo:
    """One person on their own: walks across (turning once at a moment of their own) or acts in place."""

    def __init__(self, rng, agents: list[_Agent], z: float, group: int, seconds: float):
        self.i = len(agents)
        self.walks = rng.random() < 0.6
        d = 1.0 if rng.random() < 0.5 else -1.0
        p = np.array([-d * rng.uniform(1.0, 2.4) if self.walks else rng.uniform(-1.8, 1.8), z])
        agents.append(_Agent(p, 0.0 if d > 0 else np.pi, group))
        self.t_turn = float(rng.uniform(0.5, seconds))
        self.turn = float(rng.choice((-1.0, 1.0)) * rng.uniform(0.5, 1.5))
        self.act = str(rng.choice(ACTIONS))
        self.rate = float(rng.uniform(0.8, 1.3))

    def control(self, t: float, agents: list[_Agent]) -> None:
        a = agents[self.i]
        if not self.walks:
            a.clip = self.act
            return
        a.clip, a.rate = "walk", self.rate
        if a.want is None:
            a.want = a.heading
        if t >= self.t_turn:
            a.want, self.t_turn = a.want + self.turn, float("inf")


def _script(rng: np.random.Generator, cfg: SceneConfig, seconds: float) -> tuple[str, list[_Agent], list]:
    """The scene's units and their people: between ``min_people`` and ``max_people`` people."""
    n = int(rng.integers(cfg.min_people, cfg.max_people + 1))
    lanes = list(rng.permutation([-1.3, -0.45, 0.4, 1.25]))
    agents: list[_Agent] = []
    units, names = [], []
    group = 0
    while len(agents) < n:
        left = n - len(agents)
        z = float(lanes.pop(0) if lanes else rng.uniform(-1.4, 1.4)) + float(rng.uniform(-0.1, 0.1))
        kind = "solo" if left == 1 else str(rng.choice(("follow", "follow", "meet", "solo")))
        if kind == "follow":
            size = int(rng.integers(2, min(4, left) + 1))
            units.append(_Follow(rng, agents, size, z, group, seconds))
            names.append(f"follow{size}")
        elif kind == "meet":
            units.append(_Meet(rng, agents, z, group))
            names.append("meet")
        else:
            units.append(_Solo(rng, agents, z, group, seconds))
            names.append("solo")
        group += 2  # a unit's group and the one a member may leave to
    return "+".join(names), agents, units


def _simulate(agents: list[_Agent], units: list, cfg: SceneConfig
              ) -> tuple[np.ndarray, list[list[str]], np.ndarray, np.ndarray]:
    """World keypoints (P, T, 17, 3), each person's clip per frame, the true group of each (P, T), and the cues
    (P, T): at a frame where a person starts a change caused by someone else's earlier action (a follower copying
    the leader's turn, stop or speed change; the one attacked reacting), the frame of that action, else -1."""
    n_frames = int(round(cfg.seconds * cfg.fps))
    dt = 1.0 / cfg.fps
    P = len(agents)
    clip = [""] * P
    clip_t = [0.0] * P
    prev: list[tuple[str, float] | None] = [None] * P
    since = [9.0] * P
    out = np.zeros((P, n_frames, 17, 3))
    groups = np.zeros((P, n_frames), np.int16)
    cues = np.full((P, n_frames), -1, np.int16)
    actions: list[list[str]] = [[] for _ in range(P)]
    for t in range(n_frames):
        for u in units:
            u.control(t * dt, agents)
        for k, a in enumerate(agents):
            if a.face is not None:
                a.heading = _turn(a.heading, _heading_to(a.pos, agents[a.face].pos), _TURN_RATE * dt)
            elif a.want is not None:
                a.heading = _turn(a.heading, a.want, _TURN_RATE * dt)
            if a.clip in LOCOMOTION:
                a.pos = a.pos + _speed(a.clip) * a.rate * dt * _forward(a.heading)
            if clip[k] != a.clip:
                if clip[k]:
                    prev[k] = (clip[k], clip_t[k])
                    since[k] = 0.0
                clip[k], clip_t[k] = a.clip, 0.0
            local = _pose_at(clip[k], clip_t[k])
            if prev[k] is not None and since[k] < _BLEND_S:
                w = since[k] / _BLEND_S
                local = w * local + (1 - w) * _pose_at(prev[k][0], prev[k][1] + since[k])
            world = _rot_y(local, a.heading)
            world[:, 0] += a.pos[0]
            world[:, 2] += a.pos[1]
            out[k, t] = world
            groups[k, t] = a.group
            if a.cue is not None:
                cues[k, t] = int(round(a.cue * cfg.fps))
                a.cue = None
            actions[k].append(clip[k])
            clip_t[k] += dt * a.rate
            since[k] += dt
    return out, actions, groups, cues


# -- camera and drawing -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Camera:
    """A pinhole camera at (0, height, distance) looking at (0, target_y, 0)."""

    size: int
    distance: float = 6.5
    height: float = 3.5
    target_y: float = 0.75
    half_width_m: float = 2.6  # metres at the look-at point that fill half the image width

    def project(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (..., 3) to pixels (..., 2) and depth (...)."""
        eye = np.array([0.0, self.height, self.distance])
        fwd = np.array([0.0, self.target_y, 0.0]) - eye
        dist0 = np.linalg.norm(fwd)
        fwd /= dist0
        right = np.array([1.0, 0.0, 0.0])
        down = np.cross(fwd, right)
        q = p - eye
        z = q @ fwd
        f = (self.size / 2) * dist0 / self.half_width_m
        x = self.size / 2 + f * (q @ right) / z
        y = self.size / 2 + f * (q @ down) / z
        return np.stack([x, y], -1), z


def _photo(name: str) -> np.ndarray:
    """A real photograph as float RGB in [0, 1]."""
    if name in ("china", "flower"):
        from sklearn.datasets import load_sample_image
        img = load_sample_image(f"{name}.jpg")
    else:
        import skimage.data
        img = getattr(skimage.data, name)()
    img = np.asarray(img, dtype=np.float32) / 255.0
    if img.ndim == 2:
        img = np.stack([img] * 3, -1)
    return img[..., :3]


_PHOTOS: dict[str, np.ndarray] = {}


def _cached_photo(name: str) -> np.ndarray:
    if name not in _PHOTOS:
        _PHOTOS[name] = _photo(name)
    return _PHOTOS[name]


def _crop(img: np.ndarray, rng: np.random.Generator, size: int, scale: float) -> np.ndarray:
    """A random square crop of ``scale`` of the photo's short side, resized to ``size``."""
    from skimage.transform import resize

    h, w = img.shape[:2]
    s = max(8, int(min(h, w) * scale))
    y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
    return resize(img[y:y + s, x:x + s], (size, size), order=1, anti_aliasing=True).astype(np.float32)


def _appearance(rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """Shirt and trousers textures cut from real photographs (grey ones tinted by a real photo's colour),
    a skin tone from the astronaut photograph's face, hair from its hair."""
    out = {}
    for part in ("shirt", "trousers"):
        name = str(rng.choice(CLOTHES))
        tex = _crop(_cached_photo(name), rng, size, rng.uniform(0.15, 0.4))
        if name in ("brick", "gravel", "grass"):
            tint = _crop(_cached_photo(str(rng.choice(("coffee", "chelsea", "rocket", "flower")))), rng, 4, 0.1)
            tex = np.clip(tex * tint.reshape(-1, 3).mean(0) * 1.6, 0, 1)
        out[part] = tex
    face = _cached_photo("astronaut")
    out["skin"] = face[int(rng.integers(100, 140)), int(rng.integers(200, 260))]
    out["hair"] = face[int(rng.integers(30, 60)), int(rng.integers(180, 300))] * rng.uniform(0.4, 1.0)
    return out


#: limbs drawn per person: (keypoint a, keypoint b, radius in metres, material), back to front
_PARTS = tuple((_L[f"{side}_{a}"], _L[f"{side}_{b}"], r, mat) for a, b, r, mat in (
    ("knee", "ankle", 0.06, "trousers"), ("hip", "knee", 0.08, "trousers"), ("shoulder", "elbow", 0.055, "shirt"),
    ("elbow", "wrist", 0.045, "skin")) for side in ("left", "right"))


def _capsule_alpha(gx: np.ndarray, gy: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
    """Anti-aliased coverage of the capsule from ``a`` to ``b`` (pixels) of radius ``r`` px."""
    ab = b - a
    L2 = float(ab @ ab) + 1e-9
    t = np.clip(((gx - a[0]) * ab[0] + (gy - a[1]) * ab[1]) / L2, 0.0, 1.0)
    d = np.hypot(gx - (a[0] + t * ab[0]), gy - (a[1] + t * ab[1]))
    return np.clip(r + 0.5 - d, 0.0, 1.0)


def _torso_alpha(gx, gy, quad: np.ndarray) -> np.ndarray:
    """Coverage of the convex quadrilateral (shoulders and hips), 1 px soft edge."""
    inside = np.full(gx.shape, np.inf)
    c = quad.mean(0)
    for i in range(4):
        p, q = quad[i], quad[(i + 1) % 4]
        n = np.array([q[1] - p[1], p[0] - q[0]])
        n /= np.linalg.norm(n) + 1e-9
        if (c - p) @ n < 0:
            n = -n
        inside = np.minimum(inside, (gx - p[0]) * n[0] + (gy - p[1]) * n[1])
    return np.clip(inside + 0.5, 0.0, 1.0)


def draw_person(canvas: np.ndarray, kp: np.ndarray, px_per_m: float, look: dict[str, np.ndarray],
                origin: np.ndarray) -> np.ndarray:
    """Draw one person (pixel keypoints ``kp`` (17, 2)) onto ``canvas`` (H, W, 3) in place; returns its
    coverage (H, W). Textures move with the person (anchored at ``origin``, its hips' midpoint)."""
    H, W = canvas.shape[:2]
    gy, gx = np.mgrid[0:H, 0:W].astype(np.float32)
    off = np.round(origin).astype(int)

    def texture(name: str) -> np.ndarray:
        t = look[name]
        if t.ndim == 1:
            return t
        return np.roll(t, (off[1] - H // 2, off[0] - W // 2), axis=(0, 1))

    cover = np.zeros((H, W), np.float32)

    def paint(alpha: np.ndarray, material: str) -> None:
        nonlocal cover
        a = alpha[..., None]
        canvas[:] = canvas * (1 - a) + texture(material) * a
        cover = np.maximum(cover, alpha)

    for a, b, r, mat in _PARTS[:4]:
        paint(_capsule_alpha(gx, gy, kp[a], kp[b], max(0.6, r * px_per_m)), mat)
    quad = kp[[_L["left_shoulder"], _L["right_shoulder"], _L["right_hip"], _L["left_hip"]]]
    paint(np.maximum(_torso_alpha(gx, gy, quad),
                     _capsule_alpha(gx, gy, kp[_L["left_shoulder"]], kp[_L["right_shoulder"]], 0.05 * px_per_m)),
          "shirt")
    for a, b, r, mat in _PARTS[4:]:
        paint(_capsule_alpha(gx, gy, kp[a], kp[b], max(0.6, r * px_per_m)), mat)
    head = (kp[_L["left_ear"]] + kp[_L["right_ear"]]) / 2
    paint(_capsule_alpha(gx, gy, head, head, 0.12 * px_per_m), "skin")
    back = head + (head - kp[_L["nose"]]) * 0.3
    paint(_capsule_alpha(gx, gy, back, back, 0.09 * px_per_m), "hair")
    return cover


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    name = str(rng.choice(BACKGROUNDS))
    return _crop(_cached_photo(name), rng, size, rng.uniform(0.6, 1.0))


def _motion(seed: int, cfg: SceneConfig):
    """A scene's motion from ``seed``: the generator (drawn on for appearance next), script, actions, pixel
    keypoints (P, T, 17, 2), the hips' depth (P, T), true groups, cues, and the camera."""
    rng = np.random.default_rng([_VERSION, int(seed)])
    script, agents, units = _script(rng, cfg, cfg.seconds)
    world, actions, groups, cues = _simulate(agents, units, cfg)
    cam = Camera(cfg.size)
    pix, depth = cam.project(world)  # (P, T, 17, 2), (P, T, 17)
    root_depth = depth[:, :, [_L["left_hip"], _L["right_hip"]]].mean(-1)
    return rng, script, actions, pix, root_depth, groups, cues, cam


def compose_scene(seed: int, cfg: SceneConfig = SceneConfig()) -> Scene:
    """One scene from ``seed`` (the same on every machine)."""
    rng, script, actions, pix, root_depth, groups, cues, cam = _motion(seed, cfg)
    bg = _background(rng, cfg.size)
    looks = [_appearance(rng, cfg.size) for _ in range(len(pix))]  # one appearance per person
    f_px = (cfg.size / 2) * np.hypot(cam.distance, cam.height - cam.target_y) / cam.half_width_m
    T = pix.shape[1]
    frames = np.zeros((T, cfg.size, cfg.size, 3), np.uint8)
    for t in range(T):
        canvas = bg.copy()
        for k in np.argsort(-root_depth[:, t]):  # far first
            origin = (pix[k, t, _L["left_hip"]] + pix[k, t, _L["right_hip"]]) / 2
            draw_person(canvas, pix[k, t], f_px / root_depth[k, t], looks[k], origin)
        frames[t] = np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)
    return Scene(frames, pix.astype(np.float32), root_depth.astype(np.float32),
                 np.round(bg * 255).astype(np.uint8), script, actions, groups, cues)


def _key(seeds: list[int], cfg: SceneConfig) -> str:
    blob = json.dumps({"v": _VERSION, "seeds": seeds, "cfg": asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def compose_scenes(seeds: list[int], cfg: SceneConfig = SceneConfig(), *, progress=None,
                   cache: bool = True) -> list[Scene]:
    """Scenes for ``seeds``, kept in the cache (``engine.cache.cache_dir("forecast")``, npz without pickle)
    so a second run reads them back; ``progress(fraction, message)`` while composing."""
    def make():
        scenes = []
        for i, s in enumerate(seeds):
            scenes.append(compose_scene(int(s), cfg))
            if progress is not None:
                progress((i + 1) / len(seeds), f"composed scene {i + 1}/{len(seeds)} from real motion capture")
        return scenes
    return _cached(cache_dir("forecast", f"scenes-{_key(list(seeds), cfg)}.npz"), make, cache)


def _cached(path: Path, make, cache: bool) -> list[Scene]:
    """The scenes kept at ``path``, or ``make()``'s (then kept there when ``cache``)."""
    if cache and path.is_file():
        try:
            return _read(path)
        except (OSError, ValueError, KeyError):
            pass
    scenes = make()
    if cache:
        _write(path, scenes)
    return scenes


def compose_poses(seeds: list[int], cfg: SceneConfig = SceneConfig(), *, progress=None,
                  cache: bool = True) -> list[Scene]:
    """Scenes for ``seeds`` with their motion only (poses, depth, groups, cues; no frames drawn: ``frames``
    (T, 0, 0, 3) and ``background`` (0, 0, 3) are empty), for training the pose models on more scenes than are
    rendered. A seed's poses are those :func:`compose_scene` gives it (the same generator, drawn on for
    appearance only afterwards). Cached as :func:`compose_scenes` does."""
    def make():
        scenes = []
        for i, s in enumerate(seeds):
            _, script, actions, pix, root_depth, groups, cues, _ = _motion(int(s), cfg)
            scenes.append(Scene(np.zeros((pix.shape[1], 0, 0, 3), np.uint8), pix.astype(np.float32),
                                root_depth.astype(np.float32), np.zeros((0, 0, 3), np.uint8), script, actions,
                                groups, cues))
            if progress is not None and (i % 10 == 9 or i + 1 == len(seeds)):
                progress((i + 1) / len(seeds), f"composed the motion of scene {i + 1}/{len(seeds)} (no frames drawn)")
        return scenes
    return _cached(cache_dir("forecast", f"poses-{_key(list(seeds), cfg)}.npz"), make, cache)


def _write(path: Path, scenes: list[Scene]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    meta = []
    for i, s in enumerate(scenes):
        arrays[f"frames{i}"], arrays[f"poses{i}"] = s.frames, s.poses
        arrays[f"depth{i}"], arrays[f"bg{i}"], arrays[f"groups{i}"] = s.depth, s.background, s.groups
        arrays[f"cues{i}"] = s.cues
        meta.append({"script": s.script, "actions": s.actions})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def _read(path: Path) -> list[Scene]:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        return [Scene(z[f"frames{i}"], z[f"poses{i}"], z[f"depth{i}"], z[f"bg{i}"], m["script"], m["actions"],
                      z[f"groups{i}"], z[f"cues{i}"])
                for i, m in enumerate(meta)]
