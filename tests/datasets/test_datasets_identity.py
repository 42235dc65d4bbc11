"""identity_group: a fake and the real footage of its target share one group."""

import json

import pytest

from tfdeepfake.datasets import build_index, identity_group


@pytest.mark.parametrize(
    "video_id, source, group",
    [
        ("celebdf-v2/Celeb-real/id0_0000", None, "celebdf:id0"),
        ("celebdf-v2/Celeb-synthesis/id0_id1_0000", "id1", "celebdf:id0"),
        ("celebdf-v1/Celeb-synthesis/id0_id7_0003", "id7", "celebdf:id0"),  # v1 = same people
        ("celebdf-v2/Celeb-synthesis/id10_id1_0000", None, "celebdf:id10"),
        ("celebdf-v2/YouTube-real/00170", None, "celebdf-v2/YouTube-real/00170"),
        ("celebdf-v2/Celeb-real/notes", None, "celebdf-v2/Celeb-real/notes"),
        ("quick/Celeb-real/id3_0001", None, "quick:id3"),  # any dataset with Celeb-DF's shape
        ("ffpp/original_sequences/youtube/c23/videos/071", None, "ffpp:071"),
        ("ffpp/manipulated_sequences/Deepfakes/c23/videos/071_054", "054", "ffpp:071"),
        ("ffpp/manipulated_sequences/FaceSwap/c40/videos/054_071", "071", "ffpp:054"),
        ("ffpp/original_sequences/actors/c23/videos/01__walking", None, "ffpp:actor01"),
        ("ffpp/manipulated_sequences/DeepFakeDetection/c23/videos/01_02__walking__AB12", "02",
         "ffpp:actor01"),
        ("dfdc/dfdc_train_part_0/aaa", None, "dfdc:aaa"),
        ("dfdc/dfdc_train_part_3/bbb", "aaa.mp4", "dfdc:aaa"),  # a fake joins its original
        ("mine/real/clip", None, "mine/real/clip"),
        ("mine/fake/clip", "someone", "mine/fake/clip"),  # a CSV's source means nothing here
    ],
)
def test_identity_group(video_id, source, group):
    assert identity_group(video_id, source) == group


def test_groups_of_celebdf_index_keep_fakes_with_their_targets(celebdf_v2):
    records = build_index("celebdf", celebdf_v2).records
    groups = {r.video_id: identity_group(r.video_id, r.source) for r in records}
    assert groups["celebdf-v2/Celeb-synthesis/id0_id1_0000"] == \
        groups["celebdf-v2/Celeb-real/id0_0000"] == groups["celebdf-v2/Celeb-real/id0_0001"]
    assert groups["celebdf-v2/Celeb-synthesis/id1_id0_0000"] == groups["celebdf-v2/Celeb-real/id1_0000"]
    assert groups["celebdf-v2/Celeb-real/id1_0000"] != groups["celebdf-v2/Celeb-real/id0_0000"]
    assert groups["celebdf-v2/YouTube-real/00000"] == "celebdf-v2/YouTube-real/00000"


def test_groups_of_ffpp_index(ffpp):
    records = build_index("faceforensics", ffpp).records
    groups = {r.video_id: identity_group(r.video_id, r.source) for r in records}
    prefix = "ffpp/manipulated_sequences"
    assert groups[f"{prefix}/Deepfakes/c23/videos/000_001"] == \
        groups["ffpp/original_sequences/youtube/c23/videos/000"]
    assert groups[f"{prefix}/Deepfakes/c23/videos/001_000"] == \
        groups["ffpp/original_sequences/youtube/c23/videos/001"]
    assert groups[f"{prefix}/DeepFakeDetection/c23/videos/01_02__walking__ABCD1234"] == \
        groups["ffpp/original_sequences/actors/c23/videos/01__walking"]
    assert len(set(groups.values())) < len(groups)


def test_groups_of_dfdc_index(tmp_path, make_files):
    part = tmp_path / "dfdc" / "dfdc_train_part_0"
    make_files(part, "real.mp4", "fake.mp4", "other.mp4")
    (part / "metadata.json").write_text(json.dumps({
        "real.mp4": {"label": "REAL"},
        "fake.mp4": {"label": "FAKE", "original": "real.mp4"},
        "other.mp4": {"label": "REAL"},
    }))
    records = build_index("dfdc", tmp_path / "dfdc").records
    groups = {r.path: identity_group(r.video_id, r.source) for r in records}
    assert groups["dfdc_train_part_0/fake.mp4"] == groups["dfdc_train_part_0/real.mp4"]
    assert groups["dfdc_train_part_0/other.mp4"] != groups["dfdc_train_part_0/real.mp4"]
