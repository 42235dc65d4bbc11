"""The `tfdeepfake` command: help, index, extract, errors (in-process, via main())."""

import json

import pytest

from tfdeepfake.cli import build_parser, main


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("index", "extract", "embed", "train", "evaluate", "detect", "demo"):
        assert command in out


def test_every_subcommand_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, subparser in sub.choices.items():
        assert subparser.format_help().strip(), name


def test_index_folders_json_summary(tmp_path, capsys):
    for label in ("real", "fake"):
        (tmp_path / "data" / label).mkdir(parents=True)
        (tmp_path / "data" / label / "x.mp4").write_bytes(b"0")
    assert main(["index", "folders", str(tmp_path / "data"), "-o", str(tmp_path / "m.jsonl"),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["videos"] == 2 and summary["splits"]["train"] == {"real": 1, "fake": 1, "total": 2}
    rows = [json.loads(line) for line in (tmp_path / "m.jsonl").read_text().splitlines()]
    assert {r["label"] for r in rows} == {0, 1}


def test_errors_are_one_line_with_the_path(tmp_path, capsys):
    assert main(["index", "folders", str(tmp_path / "nowhere"), "-o", str(tmp_path / "m.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err
    assert main(["extract", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "f.h5")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
