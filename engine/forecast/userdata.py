"""A user's multi-person clips: COCO-17 keypoints per frame plus the frames.

A folder holds, per clip ``NAME``:

- ``NAME.json``: ``{"tracks": [{"id": 1, "keypoints": [[x1, y1, v1, …, x17, y17, v17], …]}, …]}`` —
  one list of 51 numbers per frame per track, in the video's pixels, COCO's
  keypoint order; ``v`` is COCO's visibility (0: not labelled);
- the frames: ``NAME.mp4`` (read with imageio-ffmpeg) or a folder ``NAME/`` of
  ``.png`` / ``.jpg`` images (sorted by name).

Everything is checked before anything is used: a track with a missing joint
(fewer than 17 keypoints, or ``v == 0``), a coordinate that is not a finite
number, a track whose frame count differs from the video's, an unreadable
video or image raise :class:`ForecastDataError` naming the file and the
frame. Frames are resized to a square ``size`` (keypoints scaled alike). No
pickle is read; nothing is written.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

__all__ = ["ForecastDataError", "read_keypoints", "read_frames", "load_folder", "MAX_CLIPS", "MAX_FRAMES"]

MAX_CLIPS = 500
MAX_FRAMES = 10_000
MAX_TRACKS = 50
MAX_JSON_BYTES = 50_000_000
_IMAGES = (".png", ".jpg", ".jpeg")


class ForecastDataError(ValueError):
    """A user clip that cannot be used; the message names the file and the frame."""


def read_keypoints(path: Path) -> np.ndarray:
    """(tracks, frames, 17, 2) keypoints of one clip's JSON, checked."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ForecastDataError(f"{path.name}: larger than {MAX_JSON_BYTES // 1_000_000} MB")
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=lambda c: float("nan"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        if isinstance(e, ForecastDataError):
            raise
        raise ForecastDataError(f"{path.name}: not readable JSON ({e})") from None
    tracks = data.get("tracks") if isinstance(data, dict) else None
    if not isinstance(tracks, list) or not tracks:
        raise ForecastDataError(f"{path.name}: expected an object with a non-empty \"tracks\" list")
    if len(tracks) > MAX_TRACKS:
        raise ForecastDataError(f"{path.name}: {len(tracks)} tracks; at most {MAX_TRACKS}")
    out, n_frames = [], None
    for ti, tr in enumerate(tracks):
        tid = tr.get("id", ti) if isinstance(tr, dict) else ti
        kps = tr.get("keypoints") if isinstance(tr, dict) else None
        if not isinstance(kps, list) or not kps:
            raise ForecastDataError(f"{path.name}: track {tid}: \"keypoints\" must be a list with one entry per frame")
        if len(kps) > MAX_FRAMES:
            raise ForecastDataError(f"{path.name}: track {tid}: {len(kps)} frames; at most {MAX_FRAMES}")
        if n_frames is None:
            n_frames = len(kps)
        elif len(kps) != n_frames:
            raise ForecastDataError(f"{path.name}: track {tid} has {len(kps)} frames, track "
                                    f"{tracks[0].get('id', 0) if isinstance(tracks[0], dict) else 0} has {n_frames}")
        arr = np.zeros((len(kps), 17, 2), np.float32)
        for f, row in enumerate(kps):
            if not isinstance(row, list) or len(row) != 51:
                n = len(row) // 3 if isinstance(row, list) else 0
                raise ForecastDataError(f"{path.name}: track {tid}, frame {f}: missing joints ({n} of 17 keypoints; "
                                        "expected 51 numbers x, y, v)")
            for j in range(17):
                x, y, v = row[3 * j:3 * j + 3]
                if not all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in (x, y, v)) \
                        or not all(math.isfinite(c) for c in (x, y, v)):
                    raise ForecastDataError(f"{path.name}: track {tid}, frame {f}: keypoint {j} has a non-finite "
                                            f"or non-numeric coordinate ({x!r:.20}, {y!r:.20})")
                if v == 0:
                    raise ForecastDataError(f"{path.name}: track {tid}, frame {f}: missing joint {j} (visibility 0)")
                arr[f, j] = (x, y)
        out.append(arr)
    return np.stack(out)


def read_frames(clip: str, folder: Path) -> np.ndarray:
    """(frames, H, W, 3) uint8 of ``clip``: ``clip.mp4`` or the images in ``clip/``."""
    import imageio.v2 as imageio

    video, images = folder / f"{clip}.mp4", folder / clip
    frames = []
    if video.is_file():
        try:
            reader = imageio.get_reader(str(video), format="FFMPEG")
            try:
                for f, im in enumerate(reader):
                    if f >= MAX_FRAMES:
                        raise ForecastDataError(f"{video.name}: more than {MAX_FRAMES} frames")
                    frames.append(np.asarray(im)[..., :3])
            finally:
                reader.close()
        except ForecastDataError:
            raise
        except Exception as e:  # imageio raises OSError, RuntimeError, IndexError … on a broken file
            raise ForecastDataError(f"{video.name}: unreadable video after frame {len(frames)} "
                                    f"({str(e)[:200]})") from None
        if not frames:
            raise ForecastDataError(f"{video.name}: unreadable video (no frame decoded)")
    elif images.is_dir():
        files = sorted(p for p in images.iterdir() if p.suffix.lower() in _IMAGES)
        if not files:
            raise ForecastDataError(f"{clip}/: no .png or .jpg frames")
        if len(files) > MAX_FRAMES:
            raise ForecastDataError(f"{clip}/: {len(files)} frames; at most {MAX_FRAMES}")
        from PIL import Image
        for f, p in enumerate(files):
            try:
                with Image.open(p) as im:
                    frames.append(np.asarray(im.convert("RGB")))
            except (OSError, ValueError) as e:
                raise ForecastDataError(f"{clip}/{p.name}: frame {f} is not a readable image ({e})") from None
    else:
        raise ForecastDataError(f"{clip}.json: no frames ({clip}.mp4 or a folder {clip}/ of images)")
    shapes = {fr.shape for fr in frames}
    if len(shapes) > 1:
        raise ForecastDataError(f"{clip}: frames of different sizes {sorted(shapes)[:3]}")
    return np.stack(frames)


def load_folder(folder: str | Path, *, size: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, str]]:
    """Every clip of ``folder`` as (frames (T, size, size, 3) uint8, poses (P, T, 17, 2), depth (P, T), name);
    the depth order is the feet's height in the image (lower is nearer)."""
    from skimage.transform import resize

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ForecastDataError(f"{folder}: not a folder")
    files = sorted(root.glob("*.json"))
    if not files:
        raise ForecastDataError(f"{folder}: no clip (NAME.json with NAME.mp4 or NAME/)")
    if len(files) > MAX_CLIPS:
        raise ForecastDataError(f"{folder}: {len(files)} clips; at most {MAX_CLIPS}")
    out = []
    for path in files:
        poses = read_keypoints(path)
        frames = read_frames(path.stem, root)
        if len(frames) != poses.shape[1]:
            raise ForecastDataError(f"{path.name}: {poses.shape[1]} frames of keypoints but the video has "
                                    f"{len(frames)} frames")
        h, w = frames.shape[1:3]
        small = np.stack([resize(fr, (size, size), order=1, anti_aliasing=True, preserve_range=True)
                          for fr in frames]).round().clip(0, 255).astype(np.uint8)
        poses = poses * np.array([size / w, size / h], np.float32)
        depth = -poses[:, :, 15:17, 1].mean(-1)
        out.append((small, poses.astype(np.float32), depth.astype(np.float32), path.stem))
    return out
