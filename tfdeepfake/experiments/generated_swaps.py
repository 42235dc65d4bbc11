"""Generated face swaps of identity-labelled photos, laid out for the footage experiment.

    python -m tfdeepfake.experiments.generated_swaps --faces ../shared/data/faces \\
        --out reports/genswaps/videos
    python -m tfdeepfake.experiments.footage --videos reports/genswaps/videos \\
        --out reports/genswaps/footage ...
    python -m tfdeepfake.experiments.generated_swaps --faces ../shared/data/faces \\
        --out reports/genswaps/videos --analyse reports/genswaps/footage

(the last reuses the clips and adds the measures of ``generated_swaps_analysis``).

For every person of each photo set (``<faces>/<set>/<person>/*.jpg``), one **real** clip: the
person's first usable photo (name order; MTCNN must find a face) animated by
``synthetic.make_face_video`` (pan, zoom, light drift, sensor noise, H.264 CRF 23); and one
**fake** clip: the very same render (same seed) with a partner's face swapped into every frame
by ``synthetic.make_swapped_video`` (landmark-aligned, colour-matched, Poisson-blended: the
graphics approach of FaceForensics++'s FaceSwap). So a person's real and fake share footage,
backdrop and motion and differ only in the face, as an FF++ original and its FaceSwap fake do.

Partners are people of the same set, in name order, paired 1st with 2nd, 3rd with 4th...;
an odd one out turns the last three into a cycle. The swapped-in face comes from the photo of
the partner's own real clip (FF++ takes it from the source's own video).

People, as FF++'s ``TTT_SSS`` names them: a fake carries its **target** (the person whose
clip it is: head, hair, backdrop; its primary person) and its **source** (whose face is
pasted in). Both are listed, so identity-disjoint protocols keep both out of training.
Layout, read by ``footage.index_footage``::

    <out>/<set>/real/<person>.mp4
    <out>/<set>/fake/<target>--<source>.mp4
    <out>/<set>/people.json        every video's people (footage.PEOPLE_FILE)
    <out>/real_only/<person>.mp4   people of the real-only sets absent from the labelled ones
    <out>/generated.json           settings, photos used, seeds, versions

A rerun with the same photos and settings reuses the clips.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import zlib
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from tfdeepfake.constants import FAKE, REAL
from tfdeepfake.experiments.steps import script_logging

logger = logging.getLogger(__name__)

DEFAULT_SETS = ("deepface_tests", "face_recognition_examples", "openface_examples")
DEFAULT_REAL_ONLY = ("facenet_pytorch_tests/test_images",)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MANIFEST = "generated.json"
METHOD = "generated_faceswap"
MAX_PHOTO_SIDE = 1024  # bigger photos are shrunk first: MTCNN's cost grows with the pixels
MIN_FACE_PX = 48


def person_name(person: str) -> str:
    """The name a person goes by in ``people.json``: the same in every set."""
    return f"person:{person}"


def find_people(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """``{person: image paths in name order}`` for the subfolders of ``folder`` holding
    images (``multi_face*`` folders, group photos, are skipped)."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no photo folder there")
    people = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if sub.name.startswith("multi_face"):
            continue
        images = sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if images:
            people[sub.name] = images
    return people


def load_face_photo(path: str | os.PathLike, name: str):
    """A ``Photo`` of the largest face in ``path`` (shrunk to ``MAX_PHOTO_SIDE``), or None
    when MTCNN finds none of at least ``MIN_FACE_PX`` pixels."""
    import cv2

    from tfdeepfake.synthetic.faceswap import detect_keypoints
    from tfdeepfake.synthetic.photos import Photo

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"{path}: not a readable image")
    scale = MAX_PHOTO_SIDE / max(bgr.shape[:2])
    if scale < 1:
        bgr = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    image = np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    found = detect_keypoints(image)
    if found is None or found[0][3] - found[0][1] < MIN_FACE_PX:
        return None
    image.setflags(write=False)
    return Photo(name, image, found[0], found[1], source=str(path))


def first_usable_photo(paths: Sequence[Path], name: str):
    """``(Photo, skipped paths)``: the first of ``paths`` with a usable face."""
    skipped = []
    for path in paths:
        photo = load_face_photo(path, name)
        if photo is not None:
            return photo, skipped
        skipped.append(str(path))
    return None, skipped


def partners(names: Sequence[str]) -> dict[str, str]:
    """``{target: source}``: names (sorted) paired 1st with 2nd, 3rd with 4th... each the
    other's source; with an odd count the last three form a cycle (a <- b <- c <- a)."""
    names = sorted(names)
    if len(names) < 2:
        raise ValueError(f"a face swap needs 2 people or more in a set, got {names}")
    out = {}
    cut = len(names) - 3 if len(names) % 2 else len(names)
    for a, b in zip(names[:cut:2], names[1:cut:2]):
        out[a], out[b] = b, a
    if cut < len(names):
        a, b, c = names[cut:]
        out.update({a: b, b: c, c: a})
    return out


def clip_seed(seed: int, dataset: str, person: str) -> int:
    """A person's clip seed: the same whoever else is in the set."""
    key = zlib.crc32(f"{dataset}/{person}".encode("utf-8"))
    return int(np.random.SeedSequence([int(seed), key]).generate_state(1)[0])


def make_generated_swaps(people: Mapping[str, Mapping[str, Any]], out_root: str | os.PathLike,
                         *, real_only: Mapping[str, Any] | None = None, seconds: float = 3.0,
                         fps: float = 10.0, size: tuple[int, int] = (480, 360), seed: int = 0,
                         record: Mapping[str, Any] | None = None) -> dict:
    """Render the set from ``people`` (``{set: {person: Photo with landmarks}}``) and
    ``real_only`` (``{person: Photo}``) into ``out_root``; write every ``people.json`` and
    ``generated.json`` (with ``record`` added to its settings) and return that manifest."""
    from tfdeepfake.experiments.footage import PEOPLE_FILE, REAL_ONLY
    from tfdeepfake.provenance import package_versions
    from tfdeepfake.synthetic import make_face_video, make_swapped_video

    real_only = dict(real_only or {})
    root = Path(out_root)
    labelled = {p for persons in people.values() for p in persons}
    clash = sorted(labelled & set(real_only))
    if clash:
        raise ValueError(f"real-only people must appear in no labelled set; {clash} do")
    settings = {"seconds": seconds, "fps": fps, "size": list(size), "seed": seed,
                **dict(record or {})}
    started = time.perf_counter()
    videos = []
    for dataset in sorted(people):
        persons = people[dataset]
        pairs = partners(list(persons))
        listed = {}
        for person in sorted(persons):
            source, s = pairs[person], clip_seed(seed, dataset, person)
            real = f"real/{person}.mp4"
            fake = f"fake/{person}--{source}.mp4"
            make_face_video(persons[person], root / dataset / real, seconds, fps, size, s)
            make_swapped_video(persons[person], persons[source], root / dataset / fake,
                               seconds, fps, size, s)
            listed[real] = {"people": [person_name(person)], "method": None, "source": None}
            listed[fake] = {"people": [person_name(person), person_name(source)],
                            "primary": person_name(person), "method": METHOD,
                            "source": person_name(source)}
            videos += [{"path": f"{dataset}/{real}", "label": REAL, "dataset": dataset,
                        "target": person, "source": None, "seed": s,
                        "photo": persons[person].source},
                       {"path": f"{dataset}/{fake}", "label": FAKE, "dataset": dataset,
                        "target": person, "source": source, "seed": s,
                        "photo": persons[person].source,
                        "source_photo": persons[source].source}]
        (root / dataset / PEOPLE_FILE).write_text(
            json.dumps({"videos": listed}, indent=2) + "\n", "utf-8")
    for person in sorted(real_only):
        s = clip_seed(seed, REAL_ONLY, person)
        make_face_video(real_only[person], root / REAL_ONLY / f"{person}.mp4", seconds, fps,
                        size, s)
        videos.append({"path": f"{REAL_ONLY}/{person}.mp4", "label": REAL, "dataset": REAL_ONLY,
                       "target": person, "source": None, "seed": s,
                       "photo": real_only[person].source})
    manifest = {"generator": f"{__name__}.make_generated_swaps", "settings": settings,
                "versions": package_versions(), "videos": videos,
                "seconds_to_render": round(time.perf_counter() - started, 1)}
    # Written last: a run killed halfway is not mistaken for a finished set.
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    logger.info("wrote %d clips to %s in %.0f s", len(videos), root,
                manifest["seconds_to_render"])
    return manifest


def _listing(faces: Path, folders: Sequence[str]) -> dict[str, dict[str, list[list]]]:
    """What the photo folders hold (names and byte sizes): the rerun check's key."""
    return {f: {person: [[p.name, p.stat().st_size] for p in paths]
                for person, paths in find_people(faces / f).items()} for f in folders}


def build_generated_swaps(faces_root: str | os.PathLike, out_root: str | os.PathLike, *,
                          sets: Sequence[str] = DEFAULT_SETS,
                          real_only_sets: Sequence[str] = DEFAULT_REAL_ONLY,
                          seconds: float = 3.0, fps: float = 10.0,
                          size: tuple[int, int] = (480, 360), seed: int = 0) -> dict:
    """The set from the photo folders ``faces_root/<set>`` (``sets``: labelled, the set's
    last path part names its dataset; ``real_only_sets``: genuine clips of people absent
    from ``sets``); reused when ``out_root/generated.json`` records the same photos and
    settings. Returns the manifest."""
    faces, root = Path(faces_root), Path(out_root)
    names = [Path(s).name for s in sets]
    if len(set(names)) != len(names):
        raise ValueError(f"two sets share a dataset name: {names}")
    record = {"faces_root": str(faces.resolve()), "sets": list(sets),
              "real_only_sets": list(real_only_sets),
              "photos": _listing(faces, [*sets, *real_only_sets])}
    wanted = {"seconds": seconds, "fps": fps, "size": list(size), "seed": seed, **record}
    manifest_path = root / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text("utf-8"))
        if manifest.get("settings") == json.loads(json.dumps(wanted)) and all(
                (root / v["path"]).is_file() for v in manifest.get("videos", [])):
            logger.info("generated face swaps in %s reused", root)
            return manifest
    people, skipped = {}, {}
    for folder, dataset in zip(sets, names):
        people[dataset] = {}
        for person, paths in find_people(faces / folder).items():
            photo, passed = first_usable_photo(paths, person)
            skipped.update({p: "no face" for p in passed})
            if photo is None:
                logger.warning("%s/%s: no usable photo; person left out", folder, person)
                continue
            people[dataset][person] = photo
    labelled = {p for persons in people.values() for p in persons}
    real_only = {}
    for folder in real_only_sets:
        for person, paths in find_people(faces / folder).items():
            if person in labelled or person in real_only:
                continue  # seen already: it would not be a new person
            photo, passed = first_usable_photo(paths, person)
            skipped.update({p: "no face" for p in passed})
            if photo is not None:
                real_only[person] = photo
    manifest = make_generated_swaps(people, root, real_only=real_only, seconds=seconds,
                                    fps=fps, size=size, seed=seed, record=record)
    manifest["skipped_photos"] = skipped
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return manifest


def summary(manifest: Mapping[str, Any]) -> str:
    """``<set>: n people, r real / f fake; real_only: n`` for the command line."""
    counts: dict[str, list[int]] = {}
    for v in manifest["videos"]:
        counts.setdefault(v["dataset"], [0, 0])[v["label"]] += 1
    return "; ".join(f"{d}: {r} real / {f} fake" for d, (r, f) in sorted(counts.items()))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tfdeepfake.experiments.generated_swaps",
        description="Real clips animated from identity-labelled photos and their face-swapped "
                    "twins, laid out for `python -m tfdeepfake.experiments.footage --videos`.")
    p.add_argument("--faces", type=Path, required=True, help="folder of photo sets "
                   "(../shared/data/faces)")
    p.add_argument("--out", type=Path, default=Path("reports/genswaps/videos"),
                   help="output folder (keep it out of the repository's tracked files)")
    p.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS),
                   help="labelled photo sets, <set>/<person>/*.jpg (default: %(default)s)")
    p.add_argument("--real-only", nargs="*", default=list(DEFAULT_REAL_ONLY),
                   help="sets whose new people get a genuine clip only (default: %(default)s)")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--fps", type=float, default=10.0)
    p.add_argument("--width", type=int, default=480)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--analyse", type=Path, metavar="FOOTAGE_OUT",
                   help="after building, read the footage run on this set (its --out folder) "
                        "and write generated_analysis.json there: face person vs footage "
                        "person vs label in the embeddings, pair-out AUC within datasets")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    script_logging(args.verbose)
    try:
        manifest = build_generated_swaps(args.faces, args.out, sets=args.sets,
                                         real_only_sets=args.real_only, seconds=args.seconds,
                                         fps=args.fps, size=(args.width, args.height),
                                         seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(manifest['videos'])} clips ({summary(manifest)})")
    if args.analyse:
        from tfdeepfake.experiments.generated_swaps_analysis import analyse, describe

        try:
            result = analyse(args.out, args.analyse)
        except (FileNotFoundError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(describe(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
