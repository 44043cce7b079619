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
    "keypoints, projected by a pinhole camera; two to four people per scene on scripted paths that meet, pass, "
    "follow and gather; clothing cut from real photographs (scikit-image, scikit-learn) over a real background "
    "photograph. The scripts, the appearance and the composition are ours (engine.forecast.compose); every pose "
    "is a real mocap frame", "DeepMimic motions: MIT (via pybullet, zlib licence); photographs: public domain / CC0 "
    "(scikit-image data), CC BY 2.0 (scikit-learn's china.jpg, flower.jpg)", origin="composed", offline=True,
    size=64))
