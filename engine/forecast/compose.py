"""Multi-person clips composed from real motion capture (:mod:`.mocap`).

A scene is a few people on scripted paths over a real background photograph:
they walk (the DeepMimic walk or run clip) towards waypoints, stop and act
(kick, punch, dance, spin, jump …) facing someone, walk on. Scripts bring
people together and apart: ``meet`` (two walk up to each other and one
kicks or punches while the other dances), ``pass`` (two walk past each other
while a third acts), ``follow`` (one walks behind another), ``gather`` (three
converge, act, one leaves). Every body pose is a real mocap frame (the clip's
root travel removed, the path's position and heading put instead, blended
over a quarter second when the action changes); the 3-D COCO-17 keypoints are
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

__all__ = ["SceneConfig", "Scene", "compose_scene", "compose_scenes", "ACTIONS", "SCRIPTS", "Camera",
           "ORIGIN_NOTE", "BACKGROUNDS", "CLOTHES"]

ORIGIN_NOTE = ("composed from real motion capture: pybullet's DeepMimic clips (forward kinematics of its humanoid "
               "URDF) on scripted paths, clothing cut from real photographs, over a real background photograph")
ACTIONS = ("kick", "punch", "spinkick", "dance_a", "dance_b", "jump", "spin")
SCRIPTS = ("meet", "pass", "follow", "gather")
BACKGROUNDS = ("china", "rocket", "brick", "gravel", "grass")
CLOTHES = ("astronaut", "coffee", "chelsea", "immunohistochemistry", "colorwheel", "rocket", "china", "flower",
           "brick", "gravel", "grass")
_VERSION = 1
_BLEND_S = 0.25
_TURN_RATE = 5.0  # rad/s
_L = {k: i for i, k in enumerate(COCO_KEYPOINTS)}


@dataclass(frozen=True)
class SceneConfig:
    size: int = 64
    fps: int = 15
    seconds: float = 6.0
    max_people: int = 4


@dataclass
class Scene:
    """One composed scene: ``frames`` (T, H, W, 3) uint8, ``poses`` (P, T, 17, 2)
    pixel coordinates (x, y), ``depth`` (P, T) metres from the camera,
    ``background`` (H, W, 3) uint8, the script and each person's actions."""

    frames: np.ndarray
    poses: np.ndarray
    depth: np.ndarray
    background: np.ndarray
    script: str
    actions: list[list[str]]


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


def _pose_at(name: str, t: float) -> np.ndarray:
    """The clip's local pose at ``t`` seconds (looping), linearly between frames."""
    kp, dt = _clip(name)
    f = (t / dt) % (len(kp) - 1)
    i = int(f)
    w = f - i
    return (1 - w) * kp[i] + w * kp[i + 1]


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


def _script(name: str, rng: np.random.Generator, max_people: int) -> list[list[tuple]]:
    """Per person: a start (x, z) and a list of steps ("go", (x, z), clip) / ("act", clip, seconds, face)."""
    def act() -> str:
        return str(rng.choice(ACTIONS))

    z0 = rng.uniform(-0.8, 0.8)
    mx = rng.uniform(-0.6, 0.6)
    plans: list[list[tuple]] = []
    if name == "meet":
        plans.append([(-2.4, z0), ("go", (mx - 0.45, z0), "walk"), ("act", str(rng.choice(("kick", "punch"))), 9.0, 1)])
        plans.append([(2.4, z0 + rng.uniform(-0.2, 0.2)), ("go", (mx + 0.45, z0), "walk"),
                      ("act", str(rng.choice(("dance_a", "dance_b", "jump"))), 9.0, 0)])
        if max_people >= 3 and rng.random() < 0.7:
            zc = z0 - 1.0 if z0 > 0 else z0 + 1.0
            plans.append([(2.6, zc), ("go", (-2.6, zc), str(rng.choice(LOCOMOTION)))])
    elif name == "pass":
        plans.append([(-2.4, z0), ("go", (2.6, z0 + 0.3), "walk")])
        plans.append([(2.4, z0 + 0.35), ("go", (-2.6, z0), str(rng.choice(LOCOMOTION)))])
        if max_people >= 3:
            plans.append([(rng.uniform(-1.5, 1.5), -z0 * 0.8), ("act", act(), 9.0, 0)])
    elif name == "follow":
        d = 1.0 if rng.random() < 0.5 else -1.0
        plans.append([(-1.4 * d, z0), ("go", (2.7 * d, z0), "walk")])
        plans.append([(-2.6 * d, z0 + 0.1), ("go", (2.0 * d, z0 + 0.1), "walk"), ("act", act(), 9.0, 0)])
        if max_people >= 3 and rng.random() < 0.6:
            plans.append([(rng.uniform(-1.0, 1.0), -z0), ("act", act(), 9.0, 0)])
    else:  # gather
        n = min(max_people, 3)
        centre = np.array([mx, z0 * 0.5])
        for k in range(n):
            ang = 2 * np.pi * k / n + rng.uniform(-0.4, 0.4)
            start = centre + np.array([2.3 * np.cos(ang), 1.1 * np.sin(ang)])
            spot = centre + np.array([0.5 * np.cos(ang), 0.35 * np.sin(ang)])
            plan = [tuple(start), ("go", tuple(spot), "walk"), ("act", act(), rng.uniform(1.5, 3.0), (k + 1) % n)]
            if k == 0:
                plan.append(("go", tuple(centre + np.array([2.6 * np.cos(ang + 1.0), 0.0])), "walk"))
            else:
                plan.append(("act", act(), 9.0, (k + 1) % n))
            plans.append(plan)
    return plans[:max_people]


def _simulate(plans: list[list[tuple]], cfg: SceneConfig) -> tuple[np.ndarray, list[list[str]]]:
    """World keypoints (P, T, 17, 3) of every person following its plan."""
    n_frames = int(round(cfg.seconds * cfg.fps))
    dt = 1.0 / cfg.fps
    P = len(plans)
    pos = [np.asarray(p[0], dtype=np.float64) for p in plans]
    step_i = [1] * P
    heading = []
    for k, p in enumerate(plans):
        first = p[1]
        heading.append(_heading_to(pos[k], np.asarray(first[1])) if first[0] == "go" else 0.0)
    clip = [""] * P
    clip_t = [0.0] * P
    prev: list[tuple[str, float] | None] = [None] * P
    since = [9.0] * P
    act_left = [0.0] * P
    out = np.zeros((P, n_frames, 17, 3))
    actions: list[list[str]] = [[] for _ in range(P)]
    for t in range(n_frames):
        for k in range(P):
            plan = plans[k]
            step = plan[step_i[k]] if step_i[k] < len(plan) else ("act", "dance_b", 99.0, None)
            if step[0] == "go":
                want = step[2]
                target = np.asarray(step[1])
                d = target - pos[k]
                dist = float(np.hypot(*d))
                v = _speed(want)
                if dist < v * dt:
                    pos[k] = target.copy()
                    step_i[k] += 1
                else:
                    heading[k] = _turn(heading[k], _heading_to(pos[k], target), _TURN_RATE * dt)
                    pos[k] = pos[k] + v * dt * np.array([np.cos(heading[k]), -np.sin(heading[k])])
            else:
                want = step[1]
                face = step[3]
                if face is not None and face < P:
                    heading[k] = _turn(heading[k], _heading_to(pos[k], pos[face]), _TURN_RATE * dt)
                if clip[k] != want:
                    act_left[k] = float(step[2])
                act_left[k] -= dt
                if act_left[k] <= 0:
                    step_i[k] += 1
            if clip[k] != want:
                if clip[k]:
                    prev[k] = (clip[k], clip_t[k])
                    since[k] = 0.0
                clip[k], clip_t[k] = want, 0.0
            local = _pose_at(clip[k], clip_t[k])
            if prev[k] is not None and since[k] < _BLEND_S:
                w = since[k] / _BLEND_S
                local = w * local + (1 - w) * _pose_at(prev[k][0], prev[k][1] + since[k])
            world = _rot_y(local, heading[k])
            world[:, 0] += pos[k][0]
            world[:, 2] += pos[k][1]
            out[k, t] = world
            actions[k].append(clip[k])
            clip_t[k] += dt
            since[k] += dt
    return out, actions


# -- camera and drawing -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Camera:
    """A pinhole camera at (0, height, distance) looking at (0, target_y, 0)."""

    size: int
    distance: float = 6.5
    height: float = 2.0
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


def compose_scene(seed: int, cfg: SceneConfig = SceneConfig()) -> Scene:
    """One scene from ``seed`` (the same on every machine)."""
    rng = np.random.default_rng([_VERSION, int(seed)])
    script = SCRIPTS[int(rng.integers(len(SCRIPTS)))]
    plans = _script(script, rng, cfg.max_people)
    world, actions = _simulate(plans, cfg)
    cam = Camera(cfg.size)
    pix, depth = cam.project(world)  # (P, T, 17, 2), (P, T, 17)
    root_depth = depth[:, :, [_L["left_hip"], _L["right_hip"]]].mean(-1)
    bg = _background(rng, cfg.size)
    looks = [_appearance(rng, cfg.size) for _ in plans]
    f_px = (cfg.size / 2) * np.hypot(cam.distance, cam.height - cam.target_y) / cam.half_width_m
    T = world.shape[1]
    frames = np.zeros((T, cfg.size, cfg.size, 3), np.uint8)
    for t in range(T):
        canvas = bg.copy()
        for k in np.argsort(-root_depth[:, t]):  # far first
            origin = (pix[k, t, _L["left_hip"]] + pix[k, t, _L["right_hip"]]) / 2
            draw_person(canvas, pix[k, t], f_px / root_depth[k, t], looks[k], origin)
        frames[t] = np.round(np.clip(canvas, 0, 1) * 255).astype(np.uint8)
    return Scene(frames, pix.astype(np.float32), root_depth.astype(np.float32),
                 np.round(bg * 255).astype(np.uint8), script, actions)


def _key(seeds: list[int], cfg: SceneConfig) -> str:
    blob = json.dumps({"v": _VERSION, "seeds": seeds, "cfg": asdict(cfg)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def compose_scenes(seeds: list[int], cfg: SceneConfig = SceneConfig(), *, progress=None,
                   cache: bool = True) -> list[Scene]:
    """Scenes for ``seeds``, kept in the cache (``engine.cache.cache_dir("forecast")``, npz without pickle)
    so a second run reads them back; ``progress(fraction, message)`` while composing."""
    path = cache_dir("forecast", f"scenes-{_key(list(seeds), cfg)}.npz")
    if cache and path.is_file():
        try:
            return _read(path)
        except (OSError, ValueError, KeyError):
            pass
    scenes = []
    for i, s in enumerate(seeds):
        scenes.append(compose_scene(int(s), cfg))
        if progress is not None:
            progress((i + 1) / len(seeds), f"composed scene {i + 1}/{len(seeds)} from real motion capture")
    if cache:
        _write(path, scenes)
    return scenes


def _write(path: Path, scenes: list[Scene]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    meta = []
    for i, s in enumerate(scenes):
        arrays[f"frames{i}"], arrays[f"poses{i}"] = s.frames, s.poses
        arrays[f"depth{i}"], arrays[f"bg{i}"] = s.depth, s.background
        meta.append({"script": s.script, "actions": s.actions})
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def _read(path: Path) -> list[Scene]:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        return [Scene(z[f"frames{i}"], z[f"poses{i}"], z[f"depth{i}"], z[f"bg{i}"], m["script"], m["actions"])
                for i, m in enumerate(meta)]
