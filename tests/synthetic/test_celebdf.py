"""The generated Celeb-DF stand-in of `reproduce --quick`: two trees the Celeb-DF reader indexes."""

import json

from tfdeepfake.datasets import build_index
from tfdeepfake.synthetic.celebdf import evenly_spaced, make_quick_celebdf, quick_layout_is_current

TINY = dict(num_real=4, num_fake=4, seconds=0.5, fps=6, width=96, height=72, num_identities=3)


def test_evenly_spaced_test_lists():
    assert evenly_spaced(6, 0.34) == [1, 4]
    assert evenly_spaced(3, 0.34) == [1]
    assert evenly_spaced(1, 0.5) == [0] and evenly_spaced(0, 0.5) == []
    assert len(evenly_spaced(2, 0.9)) == 1  # never every clip: training keeps one


def test_quick_celebdf_layout_test_lists_and_reuse(tmp_path):
    v1, v2 = make_quick_celebdf(tmp_path, seed=0, **TINY)
    assert (v1.name, v2.name) == ("Celeb-DF", "Celeb-DF-v2")
    v1_clips = {p.relative_to(v1).as_posix() for p in v1.rglob("*.mp4")}
    v2_clips = {p.relative_to(v2).as_posix() for p in v2.rglob("*.mp4")}
    assert len(v1_clips) == 4 and len(v2_clips) == 8 and v1_clips < v2_clips
    assert {c.split("/")[0] for c in v2_clips} == {"Celeb-real", "YouTube-real", "Celeb-synthesis"}
    fakes = sorted(c for c in v2_clips if c.startswith("Celeb-synthesis/"))
    assert all(len(c.split("/")[1].split("_")) == 3 for c in fakes)  # id<t>_id<s>_<n>
    listed = [line.split() for line in (v2 / "List_of_testing_videos.txt").read_text().splitlines()]
    v1_listed = (v1 / "List_of_testing_videos.txt").read_text().splitlines()
    assert all(" ".join(row) in (v2 / "List_of_testing_videos.txt").read_text() for row in
               (line.split() for line in v1_listed))  # v2's list holds v1's
    for flag, rel in listed:  # Celeb-DF's own convention: 1 = real
        assert flag == ("0" if rel.startswith("Celeb-synthesis/") else "1") and rel in v2_clips
    index = build_index("celebdf", v2, version="merged", v1_root=v1, seed=0, val_fraction=0.25)
    splits = {r.split for r in index.records}
    assert len(index.records) == 8 and {"train", "test"} <= splits

    settings = {**TINY, "v1_fraction": 0.5, "test_fraction": 0.34, "seed": 0}
    assert quick_layout_is_current(tmp_path, settings)
    assert not quick_layout_is_current(tmp_path, {**settings, "seed": 1})
    stamp = (tmp_path / "layout.json").stat().st_mtime_ns
    make_quick_celebdf(tmp_path, seed=0, **TINY)  # the same settings: reused, not regenerated
    assert (tmp_path / "layout.json").stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "layout.json").read_text())["settings"] == settings
