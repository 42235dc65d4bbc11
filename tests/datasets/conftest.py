"""Helpers that build tiny dataset layouts; readers never decode, so files are a few bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def touch(root: Path, *paths: str) -> None:
    for rel in paths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42")


@pytest.fixture
def make_files():
    return touch


@pytest.fixture
def celebdf_v2(tmp_path: Path) -> Path:
    root = tmp_path / "Celeb-DF-v2"
    touch(
        root,
        "Celeb-real/id0_0000.mp4",
        "Celeb-real/id0_0001.mp4",
        "Celeb-real/id1_0000.mp4",
        "Celeb-real/id2_0000.mp4",
        "Celeb-real/id3_0000.mp4",
        "YouTube-real/00000.mp4",
        "YouTube-real/00001.mp4",
        "Celeb-synthesis/id0_id1_0000.mp4",
        "Celeb-synthesis/id0_id2_0001.mp4",
        "Celeb-synthesis/id1_id0_0000.mp4",
        "Celeb-synthesis/id2_id1_0000.mp4",
        "Celeb-synthesis/id3_id0_0000.mp4",
    )
    # In Celeb-DF's own list 1 = real and 0 = fake.
    (root / "List_of_testing_videos.txt").write_text(
        "1 YouTube-real/00001.mp4\n0 Celeb-synthesis/id2_id1_0000.mp4\n1 Celeb-real/id2_0000.mp4\n"
    )
    return root


@pytest.fixture
def ffpp(tmp_path: Path) -> Path:
    root = tmp_path / "ffpp"
    originals = [f"original_sequences/youtube/c23/videos/{n}.mp4" for n in
                 ("000", "001", "002", "003", "004", "005", "999")]
    touch(
        root,
        *originals,
        "original_sequences/youtube/c40/videos/000.mp4",
        "original_sequences/actors/c23/videos/01__walking.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/000_001.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/001_000.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/002_003.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/005_004.mp4",
        "manipulated_sequences/Deepfakes/c23/videos/000_003.mp4",
        "manipulated_sequences/FaceSwap/c23/videos/004_005.mp4",
        "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__walking__ABCD1234.mp4",
    )
    splits = root / "splits"
    splits.mkdir()
    (splits / "train.json").write_text(json.dumps([["000", "001"]]))
    (splits / "val.json").write_text(json.dumps([["002", "003"]]))
    (splits / "test.json").write_text(json.dumps([["004", "005"]]))
    return root
