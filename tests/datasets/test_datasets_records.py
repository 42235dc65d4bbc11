import json
import os

import pytest

from tfdeepfake.datasets import (
    DatasetError,
    build_index,
    make_record,
    read_manifest,
    split_counts,
    validate_records,
    write_manifest,
)


@pytest.fixture
def records(tmp_path, make_files):
    make_files(tmp_path / "data", "real/a.mp4", "fake/b.mp4")
    return [
        make_record(tmp_path / "data", "real/a.mp4", 0, "train", "demo"),
        make_record(tmp_path / "data", "fake/b.mp4", 1, "test", "demo", method="m", source="s"),
    ]


def test_make_record(tmp_path):
    record = make_record(tmp_path, "x\\y/./clip.v2.mp4", 1, "val", "set")
    assert record.path == "x/y/clip.v2.mp4"
    assert record.video_id == "set/x/y/clip.v2"
    assert record.root == str(tmp_path)


def test_manifest_round_trip(tmp_path, records):
    path = write_manifest(tmp_path / "out/manifest.jsonl", records)
    assert read_manifest(path) == records
    assert sorted(os.listdir(path.parent)) == ["manifest.jsonl"]  # no temp file left
    first = json.loads(path.read_text().splitlines()[0])
    assert list(first) == [
        "video_id", "root", "path", "label", "split", "dataset", "method", "source"
    ]


def good_row(**changes):
    row = {"video_id": "d/a", "root": "/r", "path": "a.mp4", "label": 0, "split": "train",
           "dataset": "d", "method": None, "source": None}
    row.update(changes)
    return json.dumps(row)


@pytest.mark.parametrize(
    "second, message",
    [
        ("{not json", "line 2: invalid JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        (json.dumps({"video_id": "d/b", "path": "b.mp4"}), "line 2: missing field"),
        (good_row(video_id="d/b", path="b.mp4", label=2), "line 2: label must be 0 .real. or 1"),
        (good_row(video_id="d/b", path="b.mp4", label=True), "line 2: label must be"),
        (good_row(video_id="d/b", path="b.mp4", split="dev"), "line 2: split must be one of"),
        (good_row(video_id="d/b", path="b.mp4", extra=1), "line 2: unknown field"),
        (good_row(video_id="d/c", path="b.mp4"), "line 2: video_id 'd/c' does not match"),
        (good_row(), r"line 2: duplicate video_id 'd/a' \(first on line 1\)"),
    ],
)
def test_malformed_manifest(tmp_path, second, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(good_row() + "\n" + second + "\n")
    with pytest.raises(DatasetError, match=f"bad.jsonl {message}"):
        read_manifest(path)


def test_write_refuses_bad_records(tmp_path, records):
    with pytest.raises(DatasetError, match="duplicate video_id"):
        write_manifest(tmp_path / "m.jsonl", records + records[:1])
    assert not (tmp_path / "m.jsonl").exists()


def test_validate_skips_problems_and_keeps_order(tmp_path, records, make_files):
    root = tmp_path / "data"
    bad = [
        make_record(root, "../outside.mp4", 0, "train", "demo"),
        make_record(root, "/etc/hosts", 0, "train", "demo"),
        make_record(root, "real/missing.mp4", 0, "train", "demo"),
        make_record(root, "real", 0, "train", "demo"),
        make_record(root, "real/a.mp4", 1, "train", "demo"),  # the same file again
    ]
    result = validate_records(list(reversed(records)) + bad)
    assert [r.path for r in result.records] == ["fake/b.mp4", "real/a.mp4"]
    reasons = [s.reason for s in result.skipped]
    assert len(reasons) == 5
    assert sum("not inside the dataset root" in r for r in reasons) == 2
    assert "file is missing" in reasons
    assert "not a regular file (or a broken link)" in reasons
    assert any(r.startswith("duplicate video_id 'demo/real/a'") for r in reasons)


def test_videos_differing_only_in_extension_are_both_kept(tmp_path, make_files):
    """Issue 14 item 11: a.mkv and a.webm were one id (the stem) and one was dropped."""
    root = tmp_path / "data"
    make_files(root, "real/a.mkv", "real/a.webm", "real/b.mp4")
    found = [make_record(root, p, 0, "train", "demo")
             for p in ("real/a.mkv", "real/a.webm", "real/b.mp4", "real/gone.mkv")]
    missing_twin = make_record(root, "real/b.avi", 0, "train", "demo")  # not on disk
    result = validate_records(found + [missing_twin])
    assert [r.video_id for r in result.records] == [
        "demo/real/a.mkv", "demo/real/a.webm", "demo/real/b"]  # only real collisions keep it
    assert [s.reason for s in result.skipped] == ["file is missing"] * 2
    # and the manifest reads back: the longer id is the contract's other form
    manifest = write_manifest(tmp_path / "m.jsonl", result.records)
    assert read_manifest(manifest) == result.records


def test_index_folders_keeps_both_extensions(tmp_path, make_files):
    make_files(tmp_path / "data", "real/a.mkv", "real/a.webm", "fake/a.mp4")
    ids = sorted(r.video_id for r in build_index("folders", tmp_path / "data").records)
    assert ids == ["data/fake/a", "data/real/a.mkv", "data/real/a.webm"]


def test_a_stem_that_is_another_videos_name_keeps_ids_unique(tmp_path, make_files):
    """Issue 22 item 9: a.mkv and a.webm keep their extensions, and a.webm.mp4's stem is
    then a.webm's id: the third was dropped as a duplicate. Distinct files, distinct ids."""
    make_files(tmp_path / "data", "real/a.mkv", "real/a.webm", "real/a.webm.mp4")
    result = build_index("folders", tmp_path / "data")
    assert sorted(r.video_id for r in result.records) == [
        "data/real/a.mkv", "data/real/a.webm", "data/real/a.webm.mp4"]
    assert result.skipped == []
    # one file listed twice is still one video (a duplicate, not a new id)
    twice = [make_record(tmp_path / "data", "real/a.webm", 0, "train", "demo")] * 2
    assert [s.reason for s in validate_records(twice).skipped] == [
        "duplicate video_id 'demo/real/a' (kept %s)" % (tmp_path / "data" / "real/a.webm")]


@pytest.mark.parametrize("path", ["../../../etc/passwd", "/etc/passwd", "sub/../../x.mp4"])
def test_manifest_rows_outside_their_root_are_refused(tmp_path, path):
    """Issue 14 item 2: a hand-edited row was opened wherever it pointed."""
    from tfdeepfake.datasets.records import video_id_for

    manifest = tmp_path / "m.jsonl"
    manifest.write_text(good_row() + "\n"
                        + good_row(path=path, video_id=video_id_for("d", path)) + "\n")
    with pytest.raises(DatasetError, match=r"m.jsonl line 2: path .* is not inside the dataset "
                                           r"root /r"):
        read_manifest(manifest)


def test_validate_unknown_label_or_split_raises(tmp_path, records):
    with pytest.raises(DatasetError, match="unknown label 3"):
        validate_records([make_record(tmp_path, "a.mp4", 3, "train", "d")])
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        validate_records([make_record(tmp_path, "a.mp4", 0, "dev", "d")])


def test_split_counts(records):
    counts = split_counts(records)
    assert counts["train"] == {"real": 1, "fake": 0, "total": 1}
    assert counts["test"] == {"real": 0, "fake": 1, "total": 1}
    assert counts["val"]["total"] == 0


def test_build_index_checks_layout_and_options(tmp_path, celebdf_v2):
    with pytest.raises(ValueError, match="valid: celebdf, faceforensics, dfdc, folders, csv"):
        build_index("celeb", tmp_path)
    with pytest.raises(ValueError, match="unknown option.* compression .*valid: version"):
        build_index("celebdf", celebdf_v2, compression="c23")
    assert len(build_index("celebdf", celebdf_v2, val_fraction=0.2).records) == 12


@pytest.mark.parametrize("field, value", [
    ("path", "ba\x00d.mp4"),
    ("video_id", "d/ba\x00d"),
    ("root", "/r\n/s"),
    ("dataset", "d\x1b[31m"),
    ("split", "train\x00"),
    ("method", "swap\x7f"),
    ("source", "a\x85b"),  # C1 control (NEXT LINE)
])
def test_manifest_fields_holding_control_characters_are_refused(tmp_path, field, value):
    """Issue 22 item 4: a NUL in a path broke the HDF5 cache for good ("VLEN strings do not
    support embedded NULLs", no file or line named)."""
    from tfdeepfake.datasets.records import video_id_for

    row = {field: value}
    if field == "path":
        row["video_id"] = video_id_for("d", value)
    if field == "dataset":
        row["video_id"] = video_id_for(value, "a.mp4")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(good_row(video_id="d/b", path="b.mp4") + "\n" + good_row(**row) + "\n")
    with pytest.raises(DatasetError) as error:
        read_manifest(manifest)
    message = str(error.value)
    assert message.startswith(f"{manifest} line 2: field {field} ")
    assert "control character" in message and "\n" not in message
    assert f"U+{ord([c for c in value if not c.isprintable()][0]):04X}" in message


@pytest.mark.parametrize("field, value", [
    ("root", 3), ("path", ["a.mp4"]), ("dataset", None), ("method", 1.5), ("source", {}),
])
def test_manifest_fields_of_the_wrong_type_are_one_line_errors(tmp_path, field, value):
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(good_row(**{field: value}) + "\n")
    with pytest.raises(DatasetError, match=rf"m.jsonl line 1: field {field} must be a string"):
        read_manifest(manifest)


def test_index_skips_file_names_holding_control_characters(tmp_path, make_files):
    # What the index writes, read_manifest reads: such a name is skipped with its reason.
    make_files(tmp_path / "data", "real/a.mp4", "real/b\nc.mp4", "fake/d\te.mp4")
    result = build_index("folders", tmp_path / "data")
    assert [r.path for r in result.records] == ["real/a.mp4"]
    assert sorted(s.path.rsplit("/", 1)[1] for s in result.skipped) == ["b\nc.mp4", "d\te.mp4"]
    assert all("control character" in s.reason for s in result.skipped)
    manifest = write_manifest(tmp_path / "m.jsonl", result.records)
    assert read_manifest(manifest) == result.records


def test_manifest_mode_follows_the_umask(tmp_path):
    """Issue 22 item 13: manifests were 0600 (mkstemp's mode) whatever the umask."""
    record = make_record(tmp_path, "real/a.mp4", 0, "train", "demo")
    old = os.umask(0o022)
    try:
        write_manifest(tmp_path / "m.jsonl", [record])
        os.umask(0o077)
        write_manifest(tmp_path / "private.jsonl", [record])
    finally:
        os.umask(old)
    assert (tmp_path / "m.jsonl").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "private.jsonl").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
