"""The record of the multi-person clips composed from real motion capture
(built by ``engine.forecast.compose``; listed here so the catalogue shows it
without importing the technique)."""
from __future__ import annotations

from .catalog import DatasetInfo, register_dataset

__all__ = ["MOCAP_GROUPS"]

MOCAP_GROUPS = register_dataset(DatasetInfo(
    "mocap-groups", "Mocap groups: multi-person clips composed from real motion capture", "video",
    "composed from real motion capture: pybullet's 15 DeepMimic clips (pybullet_data/data/motions/humanoid3d_*.txt: "
    "walk, run, jump, kick, punch, spin, dance …) through forward kinematics of its humanoid URDF to COCO-17 "
    "keypoints, projected by a pinhole camera; 3 to 6 people per scene (a setting, 1 to 8) in groups that interact: "
    "followers copy a leader's turns, stops and speed changes after a lag, two walk up to each other, stop where "
    "they meet and one reacts to the other's kick or punch; groups form and dissolve; each person's true group per "
    "frame is kept; clothing cut from real photographs (scikit-image, scikit-learn) over a real background "
    "photograph. The scripts, the appearance and the composition are ours (engine.forecast.compose); every pose "
    "is a real mocap frame",
    "motions and humanoid URDF: shipped in the pybullet wheel (3.2.7), whose metadata and LICENSE.txt say zlib for "
    "the repository's files except 'Extras' and ThirdPartyLibs; no separate licence file sits with "
    "data/motions or humanoid (other pybullet_data folders carry their own), and the wheel does not say where the "
    "DeepMimic mocap was recorded or under which terms its authors released it, so only 'distributed under "
    "pybullet's zlib licence' is confirmed here; photographs: public domain / CC0 "
    "(scikit-image data), CC BY 2.0 (scikit-learn's china.jpg, flower.jpg)", origin="composed", offline=True,
    size=64))
