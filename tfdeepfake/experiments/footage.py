"""The poster's method on real deepfake footage, with protocols that cannot leak identity.

    python -m tfdeepfake.experiments.footage --videos ../shared/data/videos --out reports/footage

Indexes ``<videos>/<dataset>/{real,fake}/`` (labels from the folders, ``tfdeepfake.datasets``'
folders reader) and ``<videos>/real_only/`` (genuine videos only: a false-positive check),
extracts faces (25 frames, MTCNN), embeds them with pretrained FaceNet (random init is
refused, except through ``run_footage(embedder=...)`` in tests, and flagged in every output),
then scores every labelled video out of fold under leave-one-video-out, identity-disjoint
leave-one-video-out and leave-one-dataset-out, for the poster's method and for baselines on
the raw embeddings (``footage_methods``); measures how much the embeddings encode identity
rather than the label; scores the real-only videos with models trained on every labelled
video. Writes ``results.json`` and ``results.md`` into ``--out``; caches are reused on rerun.

People per video (``identities``), in ``identity_group``'s naming: FaceForensics++ file names
``original_youtube_c23_NNN`` carry person NNN; ``<Method>_c23_TTT_SSS`` carry the target TTT
(head, body, scene) and the source SSS (face, for Deepfakes / FaceSwap; the driving actor
for Face2Face / NeuralTextures, listed too, to be safe). DFDC fakes carry the person of their
``original`` (from ``dfdc/metadata/*.json``); the actor whose face was swapped in is not
named by DFDC, so it cannot be excluded. Other file names are their own person, unless the
dataset folder has a ``people.json`` (``PEOPLE_FILE``; the generated face swaps write one):
it names every video's people, which then win over the file-name rules.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import re
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.datasets.records import VideoRecord, identity_group, make_record
from tfdeepfake.evaluation.protocols import PROTOCOLS, VideoInfo
from tfdeepfake.experiments.steps import Steps, script_logging, short_hash
from tfdeepfake.faces.settings import FaceSettings

logger = logging.getLogger(__name__)

REAL_ONLY = "real_only"
PEOPLE_FILE = "people.json"
FULL_FRAMES, QUICK_FRAMES = 25, 6
FULL_SEEDS, QUICK_SEEDS = (0, 1, 2), (0,)
_FFPP_ORIGINAL = re.compile(r"^original_youtube_(c\d+|raw)_(\d+)$")
_FFPP_FAKE = re.compile(
    r"^(Deepfakes|Face2Face|FaceSwap|NeuralTextures|FaceShifter)_(c\d+|raw)_(\d+)_(\d+)$")


# -- index ---------------------------------------------------------------------------------


def _dfdc_originals(root: Path) -> dict[str, dict]:
    """``{file name: entry}`` from every DFDC ``*metadata*.json`` under ``root``."""
    entries: dict[str, dict] = {}
    for path in sorted(root.rglob("*metadata*.json")):
        try:
            data = json.loads(path.read_text("utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: invalid JSON ({error})") from error
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected an object of file name -> entry")
        entries.update({k: v for k, v in data.items() if isinstance(v, dict)})
    return entries


def read_people_file(folder: str | os.PathLike) -> dict[str, dict] | None:
    """``{path in the folder: {"people": [...], "primary": ..., "method": ..., "source": ...}}``
    from ``folder/people.json``, or None when there is none. The file is ``{"videos": {"real/
    x.mp4": {"people": ["person:x"]}, "fake/x--y.mp4": {"people": ["person:x", "person:y"],
    "primary": "person:x", "method": "faceswap", "source": "person:y"}}}``: ``people``
    everyone whose footage or face the video carries (the same name in two folders is the
    same person), ``primary`` the one whose footage it is (default: the first)."""
    path = Path(folder) / PEOPLE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: invalid JSON ({error})") from error
    videos = data.get("videos") if isinstance(data, dict) else None
    if not isinstance(videos, dict):
        raise ValueError(f"{path}: expected an object with key 'videos' (path -> entry)")
    out = {}
    for rel, entry in videos.items():
        people = entry.get("people") if isinstance(entry, dict) else None
        if not isinstance(people, list) or not people or not all(
                isinstance(x, str) and x for x in people):
            raise ValueError(f"{path}: videos[{rel!r}].people: expected a non-empty list of "
                             f"names, got {people!r}")
        primary = entry.get("primary", people[0])
        if primary not in people:
            raise ValueError(f"{path}: videos[{rel!r}].primary: expected one of {people}, got "
                             f"{primary!r}")
        for key in ("method", "source"):
            if entry.get(key) is not None and not isinstance(entry[key], str):
                raise ValueError(f"{path}: videos[{rel!r}].{key}: expected a string or null, "
                                 f"got {entry[key]!r}")
        out[Path(rel).as_posix()] = {**entry, "primary": primary}
    return out


def people_of(record: VideoRecord, dfdc: dict[str, dict], listed: dict[str, dict] | None = None
              ) -> tuple[VideoRecord, frozenset, str]:
    """``(record with method/source, everyone the video carries, its primary person)``;
    ``listed``: the folder's ``read_people_file``, which must name the video."""
    if listed is not None:
        entry = listed.get(Path(record.path).as_posix())
        if entry is None:
            raise ValueError(f"{Path(record.root) / PEOPLE_FILE}: no entry for {record.path} "
                             "(it must list every video of its folder)")
        record = dataclasses.replace(record, method=entry.get("method"),
                                     source=entry.get("source"))
        return record, frozenset(entry["people"]), entry["primary"]
    stem = Path(record.path).stem
    fake = _FFPP_FAKE.match(stem)
    original = _FFPP_ORIGINAL.match(stem)
    if fake:
        method, quality, target, source = fake.groups()
        # Named as the official layout names it, so the groups are identity_group's.
        primary = identity_group(f"ffpp/manipulated_sequences/{method}/{quality}/videos/"
                                 f"{target}_{source}")
        second = identity_group(f"ffpp/original_sequences/youtube/{quality}/videos/{source}")
        return dataclasses.replace(record, method=method, source=source), frozenset(
            {primary, second}), primary
    if original:
        quality, person = original.groups()
        primary = identity_group(f"ffpp/original_sequences/youtube/{quality}/videos/{person}")
        return record, frozenset({primary}), primary
    entry = dfdc.get(Path(record.path).name)
    if record.dataset == "dfdc" and entry is not None:
        label = {"REAL": REAL, "FAKE": FAKE}.get(str(entry.get("label", "")).upper())
        if label != record.label:
            raise ValueError(f"{record.full_path}: its folder says label {record.label}, the DFDC "
                             f"metadata says {entry.get('label')!r}")
        source = entry.get("original") if label == FAKE else None
        record = dataclasses.replace(record, source=source)
    primary = identity_group(record.video_id, source=record.source)
    return record, frozenset({primary}), primary


def index_footage(videos_root: str | os.PathLike) -> tuple[list[VideoRecord], list[VideoRecord],
                                                           list[VideoInfo]]:
    """``(labelled records, real-only records, VideoInfo per labelled video)``."""
    from tfdeepfake.datasets import build_index
    from tfdeepfake.datasets.scan import find_videos

    root = Path(videos_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no videos folder there")
    labelled: list[VideoRecord] = []
    infos: list[VideoInfo] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != REAL_ONLY):
        if not any((folder / name).is_dir() for name in ("real", "fake")):
            continue
        dfdc = _dfdc_originals(folder)
        listed = read_people_file(folder)
        for record in build_index("folders", folder, dataset=folder.name).records:
            record, people, primary = people_of(record, dfdc, listed)
            labelled.append(record)
            infos.append(VideoInfo(record.video_id, record.label, record.dataset, people, primary))
    if len({r.label for r in labelled}) < 2:
        raise ValueError(f"{root}: expected <dataset>/real and <dataset>/fake folders with videos")
    extra: list[VideoRecord] = []
    if (root / REAL_ONLY).is_dir():
        paths, _ = find_videos(root / REAL_ONLY, recursive=True)
        extra = [make_record(root / REAL_ONLY, rel, REAL, "test", REAL_ONLY) for rel in paths]
    return labelled, extra, infos


# -- faces and embeddings ------------------------------------------------------------------


def _facenet_tag(identity) -> str:
    if identity.random_init:
        return f"{identity.model}-RANDOM-seed{identity.seed}"
    return f"{identity.model}-{(identity.weights_sha256 or 'weights')[:8]}"


def prepare_embeddings(records: Sequence[VideoRecord], out_dir: Path, settings: FaceSettings,
                       embedder, steps: Steps, workers: int = 1) -> tuple[Path, dict]:
    """Extract and embed ``records`` into caches under ``out_dir/caches`` (resumable)."""
    from tfdeepfake.cache.extract import run_extract
    from tfdeepfake.models.embed import run_embed

    caches = out_dir / "caches"
    faces = caches / f"faces-{short_hash(settings.to_dict())}.h5"
    embeddings = caches / f"embeddings-{faces.stem}-{_facenet_tag(embedder.identity)}.h5"
    with steps.run("extract faces") as row:
        summary = run_extract(records, faces, settings, workers=workers)
        row["status"] = "done" if summary.done or summary.failed else "skipped"
        row["detail"] = (f"{summary.videos} videos: {summary.done} done, {summary.skipped} "
                         f"already there, {summary.failed} failed, {summary.faces} faces")
    with steps.run("embed faces") as row:
        embedded = run_embed(faces, embeddings, embedder)
        row["status"] = "done" if embedded.done else "skipped"
        row["detail"] = f"{embedded.done} embedded, {embedded.skipped} already there " \
                        f"({embedded.facenet})"
    from tfdeepfake.cache.faces import face_store

    failures = {k: f.reason for k, f in face_store(faces).failures().items()}
    return embeddings, {"face_cache": str(faces), "embedding_cache": str(embeddings),
                        "failures": failures}


def find_caches(records, footage_dir: Path | None, out: Path, settings, embedder, steps: Steps,
                workers: int = 1) -> tuple[Path, Path, str]:
    """``(face cache, embedding cache, where)``: the footage study's when they hold every
    video (read only; the SBI study uses them), else caches made under ``out``
    (``prepare_embeddings``)."""
    from tfdeepfake.cache.embeddings import embedding_store
    from tfdeepfake.cache.faces import face_store

    wanted = {r.video_id for r in records}
    if footage_dir is not None:
        faces = footage_dir / "caches" / f"faces-{short_hash(settings.to_dict())}.h5"
        embeddings = faces.parent / f"embeddings-{faces.stem}-{_facenet_tag(embedder.identity)}.h5"
        if faces.is_file() and embeddings.is_file():
            stored = face_store(faces).done_ids() & embedding_store(embeddings).done_ids()
            failed = set(face_store(faces).failures())
            if wanted <= stored | failed:
                return faces, embeddings, f"reused from {footage_dir} (read only)"
    path, data = prepare_embeddings(records, out, settings, embedder, steps, workers)
    return Path(data["face_cache"]), Path(path), f"made under {out}"


# -- the run -------------------------------------------------------------------------------


def training_config(quick: bool):
    from tfdeepfake.detectors.triplet_training import TripletTrainingConfig

    if quick:  # a smoke test of the machinery: seconds, not a measurement
        return TripletTrainingConfig(epochs=2, batch_size=16, hidden_units=(32,),
                                     embedding_dim=8, frames_per_video=2, steps_per_epoch=2)
    return TripletTrainingConfig()  # the poster's


def run_footage(videos_root: str | os.PathLike, out_dir: str | os.PathLike, *,
                quick: bool = False, seeds: Sequence[int] | None = None,
                val_fraction: float = 0.15, n_boot: int = 1000, workers: int = 1,
                protocols: Sequence[str] | None = None,
                facenet_weights: str | os.PathLike | None = None, embedder=None,
                command: str | None = None, title: str | None = None) -> dict[str, Any]:
    """Run the whole experiment; write ``results.json`` and ``results.md`` into ``out_dir``
    and return the results. ``protocols``: names in ``PROTOCOLS`` (default all).
    ``embedder``: a built FaceNetEmbedder (tests pass a random-init one; the outputs then
    say RANDOM INIT); by default the installed pretrained weights, and
    ``WeightsNotFoundError`` (with the install command) when there are none. ``title``: the
    report's (default: the poster's method on real footage)."""
    from tfdeepfake.cache.embeddings import load_embedding_table
    from tfdeepfake.experiments.footage_report import write_report
    from tfdeepfake.experiments.footage_methods import evaluate_protocols

    started = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seeds = tuple(seeds) if seeds else (QUICK_SEEDS if quick else FULL_SEEDS)
    steps = Steps()
    with steps.run("index videos") as row:
        labelled, extra, infos = index_footage(videos_root)
        row["detail"] = f"{len(labelled)} labelled videos, {len(extra)} real-only"
    if embedder is None:
        from tfdeepfake.models.facenet import load_facenet

        embedder = load_facenet(weights_path=facenet_weights)
    identity = embedder.identity
    if identity.random_init:
        logger.warning("RANDOM INIT FaceNet (%s): the numbers measure nothing", identity.label())
    settings = FaceSettings(num_frames=QUICK_FRAMES if quick else FULL_FRAMES)
    cache, data = prepare_embeddings(labelled + extra, out, settings, embedder, steps, workers)
    table = load_embedding_table(cache)
    present = set(table.video_ids.tolist())
    kept = [v for v in infos if v.video_id in present]
    extra_ids = [r.video_id for r in extra if r.video_id in present]
    config = training_config(quick)
    results = evaluate_protocols(table, kept, extra_ids, config, seeds=seeds,
                                 val_fraction=val_fraction, n_boot=n_boot,
                                 run_root=out / "runs", source=cache.name,
                                 protocols=protocols, steps=steps)
    methods_of = {r.video_id: r.method for r in labelled}
    results.update(
        title=title or "The poster's method on real footage",
        command=command or f"python -m tfdeepfake.experiments.footage --videos {videos_root} "
                           f"--out {out_dir}{' --quick' if quick else ''}",
        quick=quick, videos_root=str(Path(videos_root).resolve()),
        facenet={"label": identity.label(), "random_init": identity.random_init,
                 **identity.to_dict()},
        face_settings=settings.to_dict(), training=config.to_dict(), val_fraction=val_fraction,
        seeds=list(seeds), n_boot=n_boot, data=data,
        videos=[{**dataclasses.asdict(v), "identities": sorted(v.identities),
                 "method": methods_of.get(v.video_id),
                 "frames": int((table.video_ids == v.video_id).sum())} for v in kept],
        missing=sorted({v.video_id for v in infos} - present)
        + sorted({r.video_id for r in extra} - present),
        machine={"platform": platform.platform(), "cpus": os.cpu_count(),
                 "processor": platform.processor() or platform.machine()},
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        seconds=round(time.time() - started, 1), steps=steps.rows)
    write_report(out, results)
    return results


# -- command line --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tfdeepfake.experiments.footage",
        description="The poster's method (FaceNet -> triplet head -> KNN/SGD/RF) and raw-"
                    "embedding baselines on labelled footage, with leave-one-video-out, "
                    "identity-disjoint and leave-one-dataset-out protocols.")
    p.add_argument("--videos", type=Path, required=True,
                   help="folder of <dataset>/{real,fake}/ (and real_only/)")
    p.add_argument("--out", type=Path, default=Path("reports/footage"), help="output folder")
    p.add_argument("--quick", action="store_true",
                   help=f"{QUICK_FRAMES} frames, 2 tiny epochs, one seed: a smoke test")
    p.add_argument("--seeds", type=int, nargs="+",
                   help=f"training seeds (default {' '.join(map(str, FULL_SEEDS))}; quick: 0)")
    p.add_argument("--val-fraction", type=float, default=0.15,
                   help="training videos held out (by identity) for the head's keep-best, as "
                        "`tfdeepfake train triplet` does (default %(default)s)")
    p.add_argument("--protocols", nargs="+", choices=list(PROTOCOLS),
                   help="protocols to run (default: all)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--workers", type=int, default=1, help="face-extraction processes")
    p.add_argument("--facenet-weights", type=Path, help="FaceNet weights file (default: installed)")
    p.add_argument("--title", help="the report's title (default: the poster's method on real "
                                   "footage)")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    script_logging(args.verbose, __name__)
    from tfdeepfake.models.facenet import WeightsNotFoundError

    command = "python -m tfdeepfake.experiments.footage " + shlex.join(
        sys.argv[1:] if argv is None else argv)
    try:
        results = run_footage(args.videos, args.out, quick=args.quick, seeds=args.seeds,
                              val_fraction=args.val_fraction, n_boot=args.bootstrap,
                              protocols=args.protocols,
                              workers=args.workers, facenet_weights=args.facenet_weights,
                              command=command, title=args.title)
    except (WeightsNotFoundError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{results['facenet']['label']}: wrote {args.out / 'results.md'} and results.json "
          f"in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
