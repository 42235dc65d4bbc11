"""Symlinks: followed in folder layouts, refused where a list file names a link leading out;
skip reasons counted by kind for the index summary."""

import json
import logging
import os

from tfdeepfake.datasets import build_index, index_csv, index_folders
from tfdeepfake.datasets.records import (
    SKIP_LISTED_LINK_OUTSIDE,
    SKIP_MISSING,
    SKIP_SAME_FILE,
    IndexResult,
    Skip,
)
from tfdeepfake.datasets.scan import SKIP_FOLDER_AGAIN, SKIP_HIDDEN


def test_folder_of_links_is_indexed(tmp_path, make_files):
    store = tmp_path / "store"  # where the videos really are
    make_files(store, "a.mp4", "b.mp4", "clips/c.mp4", "clips/d.mp4")
    root = tmp_path / "assembled"
    (root / "real").mkdir(parents=True)
    (root / "fake").mkdir()
    os.symlink(store / "a.mp4", root / "real/a.mp4")
    os.symlink(store / "b.mp4", root / "fake/b.mp4")
    os.symlink(store / "clips", root / "fake/clips")  # a linked folder
    os.symlink(store / "clips", root / "fake/again")  # the same folder twice
    os.symlink(root / "fake", root / "fake/clips_loop")  # a loop
    os.symlink(store / "a.mp4", root / "real/a_twice.mp4")  # the same file twice
    os.symlink(tmp_path / "gone.mp4", root / "real/broken.mp4")

    result = index_folders(root)
    assert sorted((r.path, r.label) for r in result.records) == [
        ("fake/again/c.mp4", 1), ("fake/again/d.mp4", 1), ("fake/b.mp4", 1), ("real/a.mp4", 0),
    ]  # the linked folder is indexed once, through its first name in sorted order
    assert result.skip_reasons == {
        SKIP_FOLDER_AGAIN: 2, SKIP_SAME_FILE: 1, "not a regular file (or a broken link)": 1,
    }


def test_csv_refuses_a_listed_link_that_leads_out(tmp_path, make_files):
    make_files(tmp_path / "store", "out.mp4")
    root = tmp_path / "clips"
    make_files(root, "in.mp4")
    os.symlink(tmp_path / "store/out.mp4", root / "link_out.mp4")
    os.symlink(root / "in.mp4", root / "link_in.mp4")
    (root / "list.csv").write_text("path,label\nlink_out.mp4,0\nlink_in.mp4,1\n")
    result = index_csv(root / "list.csv")
    assert [r.path for r in result.records] == ["link_in.mp4"]
    (skip,) = result.skipped
    assert skip.kind == SKIP_LISTED_LINK_OUTSIDE and str(tmp_path / "store/out.mp4") in skip.reason


def test_celebdf_follows_linked_folders_but_not_for_test_list_entries(tmp_path, celebdf_v2):
    moved = tmp_path / "disk2" / "Celeb-synthesis"
    moved.parent.mkdir()
    os.rename(celebdf_v2 / "Celeb-synthesis", moved)
    os.symlink(moved, celebdf_v2 / "Celeb-synthesis")
    result = build_index("celebdf", celebdf_v2)
    fakes = {r.path: r.split for r in result.records if r.label == 1}
    assert fakes == {f"Celeb-synthesis/{n}.mp4": "train"
                     for n in ("id0_id1_0000", "id0_id2_0001", "id1_id0_0000", "id3_id0_0000")}
    assert result.skip_reasons == {SKIP_LISTED_LINK_OUTSIDE: 1}
    assert result.skipped[0].path.endswith("Celeb-synthesis/id2_id1_0000.mp4")


def test_faceforensics_follows_a_linked_videos_folder(tmp_path, ffpp):
    before = build_index("faceforensics", ffpp, methods="Deepfakes")
    videos = ffpp / "manipulated_sequences/Deepfakes/c23/videos"
    os.rename(videos, tmp_path / "deepfakes")
    os.symlink(tmp_path / "deepfakes", videos)
    result = build_index("faceforensics", ffpp, methods="Deepfakes")
    assert result.records == before.records and sum(r.label == 1 for r in result.records) == 4
    assert SKIP_LISTED_LINK_OUTSIDE not in result.skip_reasons


def test_dfdc_refuses_metadata_entries_that_lead_out(tmp_path, make_files):
    make_files(tmp_path / "store", "far.mp4")
    part = tmp_path / "dfdc" / "part0"
    make_files(part, "near.mp4")
    os.symlink(tmp_path / "store/far.mp4", part / "far.mp4")
    (part / "metadata.json").write_text(json.dumps(
        {"near.mp4": {"label": "REAL"}, "far.mp4": {"label": "REAL"}, "gone.mp4": {"label": "FAKE"}}))
    result = build_index("dfdc", tmp_path / "dfdc")
    assert [r.path for r in result.records] == ["part0/near.mp4"]
    assert result.skip_reasons == {SKIP_LISTED_LINK_OUTSIDE: 1, SKIP_MISSING: 1}


def test_skip_reasons_group_by_kind_most_frequent_first(caplog):
    result = IndexResult(skipped=[
        Skip("/d/a", "same file as 'x/a'", SKIP_SAME_FILE),
        Skip("/d/b", "same file as 'x/b'", SKIP_SAME_FILE),
        Skip("/d/._c", SKIP_HIDDEN, SKIP_HIDDEN),
        Skip("/d/e", "something else"),  # no kind: grouped by its reason
    ])
    assert list(result.skip_reasons.items()) == [
        (SKIP_SAME_FILE, 2), (SKIP_HIDDEN, 1), ("something else", 1)]
    from tfdeepfake.datasets.records import log_result

    with caplog.at_level(logging.INFO, logger="tfdeepfake.datasets.records"):
        log_result("demo", result)
    assert f"4 skipped; 2 {SKIP_SAME_FILE}; 1 {SKIP_HIDDEN}" in caplog.text
