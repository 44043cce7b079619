"""Motion capture to keypoints, scene composition and a user's clips."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.forecast.clips import make_clips, with_pose_clips
from engine.forecast.compose import SceneConfig, compose_poses, compose_scene, compose_scenes
from engine.forecast.mocap import COCO_KEYPOINTS, data_path, forward_kinematics, load_motion, motion_names
from engine.forecast.userdata import ForecastDataError, load_folder

SMALL = SceneConfig(size=32, fps=10, seconds=1.5, max_people=3, min_people=2)


@pytest.mark.parametrize("name,frame", [("walk", 5), ("kick", 20), ("cartwheel", 90)])
def test_forward_kinematics_matches_pybullet(name, frame):
    """Our FK of the URDF equals pybullet's own (the humanoid in DIRECT mode, joints set from the motion)."""
    import pybullet as p

    m, kp = load_motion(name), forward_kinematics(name)
    cid = p.connect(p.DIRECT)
    try:
        h = p.loadURDF(str(data_path() / "humanoid" / "humanoid.urdf"), globalScaling=0.25, physicsClientId=cid)
        joints = {p.getJointInfo(h, i, physicsClientId=cid)[1].decode(): i
                  for i in range(p.getNumJoints(h, physicsClientId=cid))}
        xyzw = lambda q: [q[1], q[2], q[3], q[0]]  # noqa: E731
        p.resetBasePositionAndOrientation(h, m.root[frame].tolist(), xyzw(m.root_rot[frame]), physicsClientId=cid)
        for jn, arr in m.joints.items():
            v = arr[frame]
            p.resetJointStateMultiDof(h, joints[jn], [float(v[0])] if len(v) == 1 else xyzw(v), physicsClientId=cid)
        for kp_name in ("left_knee", "right_ankle", "left_wrist", "right_shoulder", "left_hip"):
            world = p.getLinkState(h, joints[kp_name], computeForwardKinematics=True, physicsClientId=cid)[4]
            np.testing.assert_allclose(kp[frame, COCO_KEYPOINTS.index(kp_name)], world, atol=1e-4)
    finally:
        p.disconnect(cid)


def test_the_clips_are_real_mocap_of_a_person():
    assert {"walk", "run", "kick", "punch", "dance_a"} <= set(motion_names())
    kp = forward_kinematics("walk")
    assert kp.shape[1:] == (17, 3)
    height = kp[:, COCO_KEYPOINTS.index("left_eye"), 1] - kp[:, COCO_KEYPOINTS.index("left_ankle"), 1]
    assert 1.2 < height.mean() < 1.9  # metres, y up


def test_a_scene_is_the_same_from_its_seed_and_differs_across_seeds():
    a, b, c = compose_scene(3, SMALL), compose_scene(3, SMALL), compose_scene(4, SMALL)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.poses, b.poses)
    assert a.frames.shape == (15, 32, 32, 3) and a.poses.shape[1:] == (15, 17, 2) and 2 <= a.poses.shape[0] <= 3
    assert not np.array_equal(a.frames, c.frames)
    assert a.frames.std() > 10  # a photograph behind, not a blank
    # people move: the hips travel between the first and last frame for someone
    assert np.abs(a.poses[:, -1, 11] - a.poses[:, 0, 11]).max() > 1.0


def test_people_per_scene_follow_the_bounds():
    for people in (1, 5, 8):
        s = compose_scene(11, SceneConfig(size=32, fps=10, seconds=1.0, min_people=people, max_people=people))
        assert s.poses.shape[0] == people and s.groups.shape == (people, 10) and s.cues.shape == (people, 10)
    counts = {compose_scene(k, SceneConfig(size=16, fps=5, seconds=0.6, min_people=3, max_people=6)).poses.shape[0]
              for k in range(12)}
    assert counts <= {3, 4, 5, 6} and len(counts) > 1
    for bad, match in (({"max_people": 9}, "max_people must be from 1 to 8"),
                       ({"min_people": 0}, "min_people must be from 1 to 8"),
                       ({"min_people": 5, "max_people": 4}, r"min_people \(5\) is more than max_people \(4\)"),
                       ({"fps": 2}, "fps must be")):
        with pytest.raises(ValueError, match=match):
            SceneConfig(**bad)


def _follow_commands(seed, n=3, seconds=5.0, fps=15):
    """The heading, clip and rate each member of a follow unit is told, frame by frame."""
    from engine.forecast.compose import _Follow

    rng = np.random.default_rng(seed)
    agents = []
    unit = _Follow(rng, agents, n, 0.5, 0, seconds)
    unit.detach = None
    out = []
    for t in range(int(seconds * fps)):
        unit.control(t / fps, agents)
        out.append([(a.want, a.clip, a.rate) for a in agents])
    return unit, out


def test_a_followers_turns_stops_and_speed_changes_lag_the_leaders():
    for seed in range(4):
        unit, cmds = _follow_commands(seed)
        assert len(unit.events) >= 2
        for k in (1, 2):
            lag = int(round(unit.lags[k] * 15))
            assert 5 <= lag <= 12
            # what the follower is told at frame t is what the leader was told about lag frames before
            for t in range(lag + 1, len(cmds)):
                want, clip, rate = cmds[t][k]
                near = [cmds[t - d][0] for d in (lag - 1, lag, lag + 1)]
                assert any(abs(want - w) < 1e-9 and clip == c and abs(rate - r) < 1e-9 for w, c, r in near)
            # and it differs from the leader's command right after a change of the leader's
            changed = [t for t in range(1, len(cmds) - lag) if cmds[t][0] != cmds[t - 1][0]]
            assert changed and all(cmds[t][k] != cmds[t][0] for t in changed)


def test_composed_cues_point_back_to_someone_elses_earlier_action():
    cfg = SceneConfig(size=32, fps=15, seconds=5.0, min_people=4, max_people=6)
    seen = 0
    for seed in range(6):
        s = compose_scene(seed, cfg)
        k, t = np.nonzero(s.cues >= 0)
        for kk, tt in zip(k, t):
            lag = tt - s.cues[kk, tt]
            assert 2 <= lag <= 13  # a follower's lag or a reaction after an attack's start
            seen += 1
    assert seen > 5


def test_two_who_meet_stop_where_they_meet():
    from engine.forecast.compose import _Meet, _simulate

    for seed in range(3):
        rng = np.random.default_rng(seed)
        agents = []
        unit = _Meet(rng, agents, 0.0, 0)
        _simulate(agents, [unit], SceneConfig(size=32, fps=15, seconds=6.0))
        assert unit.t_meet is not None
        a, b = agents
        # the one attacked may have walked off; the attacker stands where they met, within reach of the other
        attacker = agents[unit.attacker]
        if unit.reaction == "jump":
            assert np.hypot(*(a.pos - b.pos)) < 1.05
        assert abs(attacker.pos[0]) < 2.4


def test_composed_scenes_are_cached_and_read_back(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path))
    first = compose_scenes([1, 2], SMALL)
    assert list((tmp_path / "forecast").glob("scenes-*.npz"))
    again = compose_scenes([1, 2], SMALL)
    for x, y in zip(first, again):
        np.testing.assert_array_equal(x.frames, y.frames)
        np.testing.assert_array_equal(x.poses, y.poses)
        assert x.actions == y.actions and x.script == y.script
        np.testing.assert_array_equal(x.groups, y.groups)
        np.testing.assert_array_equal(x.cues, y.cues)


def test_clips_are_windows_padded_to_max_people():
    s = compose_scene(5, SMALL)
    clips = make_clips([(s.frames, s.poses, s.depth, "s")], observed=4, future=3, stride=4, max_people=4)
    assert clips.groups is None and clips.cued is None
    with_groups = make_clips([(s.frames, s.poses, s.depth, "s", s.groups, s.cues)], observed=4, future=3, stride=4,
                             max_people=4)
    assert with_groups.groups.shape == (len(clips), 4, 7) and with_groups.cued.shape == (len(clips), 4)
    assert (with_groups.groups[:, s.poses.shape[0]:] == -1).all()
    assert clips.obs.shape[1:] == (4, 4, 17, 2) and clips.fut.shape[1:] == (4, 3, 17, 2)
    assert clips.mask[0].sum() == s.poses.shape[0]
    np.testing.assert_array_equal(clips.fut[1, 0].numpy(), s.poses[0, 8:11])
    assert clips.clip_frames(clips.scene[:1] * 0).shape == (1, 7, 3, 32, 32)


def test_pose_only_scenes_are_the_composed_scenes_motion_without_frames(tmp_path, monkeypatch):
    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path))
    full = compose_scenes([3, 4], SMALL, cache=False)
    poses = compose_poses([3, 4], SMALL)
    assert list((tmp_path / "forecast").glob("poses-*.npz"))
    for a, b in zip(full, compose_poses([3, 4], SMALL)):  # the second call reads the cache back
        np.testing.assert_array_equal(a.poses, b.poses)
        np.testing.assert_array_equal(a.depth, b.depth)
        np.testing.assert_array_equal(a.groups, b.groups)
        np.testing.assert_array_equal(a.cues, b.cues)
        assert a.script == b.script and a.actions == b.actions
        assert b.frames.shape == (a.frames.shape[0], 0, 0, 3) and b.background.size == 0
    kw = dict(observed=4, future=3, stride=4, max_people=4)
    framed = make_clips([(s.frames, s.poses, s.depth, "f", s.groups, s.cues) for s in full[:1]], **kw)
    extra = make_clips([(s.frames, s.poses, s.depth, "p", s.groups, s.cues) for s in poses[1:]], **kw)
    both = with_pose_clips(framed, extra)
    assert len(both) == len(framed) + len(extra) and both.size == framed.size == SMALL.size
    torch.testing.assert_close(both.obs[len(framed):], extra.obs)
    assert both.scene[len(framed):].min() == 1 and both.groups.shape[0] == len(both)
    assert both.clip_frames(torch.tensor([0])).shape == (1, 7, 3, SMALL.size, SMALL.size)


# -- a user's clips ---------------------------------------------------------------------------------------------

def _write_clip(folder, name, frames=6, tracks=2, *, video="png", row=None):
    rng = np.random.default_rng(0)
    data = {"tracks": [{"id": t + 1, "keypoints": [
        [float(v) for j in range(17) for v in (10 + j + t * 20 + f, 20 + j, 2)] for f in range(frames)]}
        for t in range(tracks)]}
    if row is not None:
        data["tracks"][row[0]]["keypoints"][row[1]] = row[2]
    (folder / f"{name}.json").write_text(json.dumps(data).replace("\"NaN\"", "NaN"))
    if video == "png":
        from PIL import Image
        (folder / name).mkdir()
        for f in range(frames):
            Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(folder / name / f"{f:04d}.png")
    elif video == "mp4":
        from engine.dlg.render import write_mp4
        write_mp4([rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(frames)], folder / f"{name}.mp4")
    elif video == "broken":
        (folder / f"{name}.mp4").write_bytes(b"not a video at all" * 100)


def test_a_users_clips_load_from_images_and_mp4(tmp_path):
    _write_clip(tmp_path, "a", video="png")
    _write_clip(tmp_path, "b", video="mp4", tracks=1)
    clips = load_folder(tmp_path, size=32)
    assert [c[3] for c in clips] == ["a", "b"]
    frames, poses, depth, _ = clips[0]
    assert frames.shape == (6, 32, 32, 3) and poses.shape == (2, 6, 17, 2) and depth.shape == (2, 6)
    assert poses[0, 0, 0, 0] == pytest.approx(10 * 32 / 60)  # x scaled by the width
    assert clips[1][0].shape == (6, 32, 32, 3)


@pytest.mark.parametrize("case,match", [
    ("missing", r"a\.json: track 2, frame 3: missing joints \(16 of 17"),
    ("invisible", r"a\.json: track 1, frame 2: missing joint 0 \(visibility 0\)"),
    ("nan", r"a\.json: track 1, frame 4: keypoint 0 has a non-finite"),
    ("count", r"a\.json: 6 frames of keypoints but the video has 5 frames"),
    ("tracks", r"a\.json: track 2 has 5 frames, track 1 has 6"),
    ("video", r"a\.mp4: unreadable video"),
])
def test_bad_user_clips_are_clear_errors_naming_file_and_frame(tmp_path, case, match):
    row = None
    if case == "missing":
        row = (1, 3, [1.0] * 48)
    elif case == "invisible":
        row = (0, 2, [5.0, 5.0, 0] + [5.0, 5.0, 2] * 16)
    elif case == "nan":
        row = (0, 4, ["NaN", 1.0, 2] + [5.0, 5.0, 2] * 16)
    _write_clip(tmp_path, "a", video="broken" if case == "video" else "png", row=row)
    if case == "count":
        (tmp_path / "a" / "0005.png").unlink()
    if case == "tracks":
        data = json.loads((tmp_path / "a.json").read_text())
        data["tracks"][1]["keypoints"].pop()
        (tmp_path / "a.json").write_text(json.dumps(data))
    with pytest.raises(ForecastDataError, match=match):
        load_folder(tmp_path, size=32)


def test_the_technique_refuses_a_bad_folder_before_writing_anything(tmp_path, monkeypatch):
    from engine import ConfigError, MemoryReporter, techniques
    from engine.hardware import get_profile

    t = techniques.get("video-forecast")
    clips = tmp_path / "clips"
    clips.mkdir()
    for name in ("a", "b"):
        _write_clip(clips, name, row=(0, 1, [1.0] * 30) if name == "b" else None)
    rep = MemoryReporter(tmp_path / "work")
    monkeypatch.setenv("FRONTIER_DATA_DIR", str(tmp_path / "elsewhere"))
    with pytest.raises(ForecastDataError, match="not inside FRONTIER_DATA_DIR"):
        t.run(t.parse({**t.smoke, "source": "folder", "data_folder": str(clips)}), get_profile("local-cpu"), rep)
    monkeypatch.setenv("FRONTIER_DATA_DIR", str(tmp_path))
    cfg = t.parse({**t.smoke, "source": "folder", "data_folder": "clips"})
    with pytest.raises(ForecastDataError, match=r"b\.json: track 1, frame 1: missing joints"):
        t.run(cfg, get_profile("local-cpu"), rep)
    assert not rep.candidates and not rep.artifacts and not rep.outputs
    assert not any((tmp_path / "work").iterdir())
    with pytest.raises(ConfigError) as e:
        t.parse({"source": "folder"})
    assert "data_folder" in e.value.errors
    with pytest.raises(ConfigError) as e:
        t.parse({"image_size": 30, "scene_seconds": 1.0, "fps": 5})
    assert set(e.value.errors) == {"image_size", "scene_seconds"}


def test_the_technique_runs_on_a_users_clips(tmp_path, monkeypatch):
    from engine import MemoryReporter, techniques
    from engine.hardware import get_profile

    t = techniques.get("video-forecast")
    (tmp_path / "clips").mkdir()
    for name in ("a", "b", "c"):
        _write_clip(tmp_path / "clips", name, frames=8)
    rep = MemoryReporter(tmp_path / "work")
    monkeypatch.setenv("FRONTIER_DATA_DIR", str(tmp_path))
    summary = t.run(t.parse({**t.smoke, "source": "folder", "data_folder": str(tmp_path / "clips"), "clip_stride": 1}),
                    get_profile("local-cpu"), rep)
    assert "real video" in summary.message
    assert {m["data"] for _, m in rep.candidates} == {"real"}


def test_the_technique_trains_every_model_per_seed_and_checks_its_groups(tmp_path, monkeypatch):
    from engine import ConfigError, MemoryReporter, techniques
    from engine.hardware import get_profile

    monkeypatch.setenv("FRONTIER_CACHE_DIR", str(tmp_path / "cache"))
    t = techniques.get("video-forecast")
    with pytest.raises(ConfigError) as e:
        t.parse({**t.smoke, "min_people": 4, "max_people": 3})
    assert "min_people" in e.value.errors
    rep = MemoryReporter(tmp_path / "work")
    m = t.run(t.parse({**t.smoke, "seeds": 2, "min_people": 2, "max_people": 4, "scene_seconds": 3.0}),
              get_profile("local-cpu"), rep).metrics
    assert m["seeds"] == 2
    assert m["pose_train_clips"] == 2 * m["train_clips"]  # 2 pose-only scenes beside the 2 drawn ones
    assert "the motion of 2 more for the pose models" in m["data_origin"]
    for key in ("psnr_hierarchical", "psnr_pixel-convgru", "ssim_hierarchical", "pose_err_final_px_no-group"):
        assert len(m["per_seed"][key]) == 2
    assert m["psnr_model"] == pytest.approx(np.mean(m["per_seed"]["psnr_hierarchical"]), abs=1e-2)
    assert m["psnr_model_std"] >= 0 and m["ssim_pixel_baseline_std"] >= 0
    assert 0 <= m["group_recovery_accuracy"] <= 1 and m["group_recovery_pairs"] > 0
    assert "groups formed agree with the true ones" in rep.progresses[-1][1]
    series = {name for name, *_ in rep.points}
    assert {"loss/renderer-seed0", "loss/renderer-seed1", "loss/pixel-convgru-seed1"} <= series
