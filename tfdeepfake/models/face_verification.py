"""Face verification: do a FaceNet's weights and preprocessing recognise people?

A FaceNet that works puts two photos of one person closer together than photos of two
people. ``verification_auc`` measures that on identity-labelled photo sets (by default those
in ``../shared/data/faces``): MTCNN finds the largest face of each photo, it is cropped with a
margin at the embedder's input size, embedded (L2-normalised), and every pair is scored by
the Euclidean distance between its embeddings; the ROC AUC of "same person" against the
negated distance is reported per set with its pair counts.

Measured on ``../shared/data/faces`` (62 photos, 582 pairs in four sets) with FaceNet
20170512-110547: AUC 1.000 on every set (margin 0.1 and 0.33 alike); randomly initialised,
0.62-0.84; without any standardisation (raw 0..255 pixels), 0.71-0.89. 2018's fixed
standardisation on these weights also scores 1.000 (its embeddings keep cosine ~0.98 to the
right ones): verification cannot tell those two preprocessings apart, the identity's probe does.

Photo sets:

- ``deepface_tests``: the labelled pairs of ``master.csv`` (``file_x, file_y, Decision``);
  photos are found by file name under the set's folder.
- any other folder of identity folders (``<set>/<person>/*.jpg``, also one level down as
  in ``facenet_pytorch_tests/test_images/<person>/``): every pair of its photos, same person
  when the folder names match. Folders of several or unknown people are skipped.
"""

from __future__ import annotations

import csv
import itertools
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
# Folders holding several or unlabelled people: not an identity.
UNLABELLED_FOLDERS = ("multi_face", "multi_face_or_unlabelled")
PAIRS_FILE = "master.csv"
REQUIRED_AUC = 0.99
DEFAULT_MARGIN = 0.1
# Photos are not video frames: MTCNN sees them at this short side (all faces of the shared
# sets are found; at full resolution it takes five times longer).
PHOTO_DETECT_SHORT_SIDE = 480


@dataclass
class PhotoSet:
    """Photos with identities and the pairs to compare (indices into ``photos``)."""

    name: str
    photos: list[Path] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    pairs: list[tuple[int, int, bool]] = field(default_factory=list)


def _photos_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)


def _identity_folders(root: Path) -> list[Path]:
    """``root/<person>/`` folders holding photos, searched one level down as well."""
    found = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        if child.name in UNLABELLED_FOLDERS:
            continue
        if _photos_in(child):
            found.append(child)
        else:
            found.extend(_identity_folders(child))
    return found


def folder_pairs(root: str | os.PathLike, name: str | None = None) -> PhotoSet:
    """Every pair of photos under identity folders: same person when the folders' names match."""
    root = Path(root)
    photo_set = PhotoSet(name or root.name)
    for folder in _identity_folders(root):
        for photo in _photos_in(folder):
            photo_set.photos.append(photo)
            photo_set.identities.append(folder.name)
    for i, j in itertools.combinations(range(len(photo_set.photos)), 2):
        photo_set.pairs.append((i, j, photo_set.identities[i] == photo_set.identities[j]))
    return photo_set


def csv_pairs(root: str | os.PathLike, pairs_file: str = PAIRS_FILE) -> PhotoSet:
    """The labelled pairs of ``root/pairs_file`` (columns ``file_x, file_y, Decision``)."""
    root = Path(root)
    by_name: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix.lower() in PHOTO_SUFFIXES:
            by_name.setdefault(path.name, path)
    photo_set = PhotoSet(root.name)
    index: dict[Path, int] = {}
    table = root / pairs_file
    with open(table, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        expected = {"file_x", "file_y", "Decision"}
        if not expected <= set(reader.fieldnames or ()):
            raise ValueError(f"{table}: expected columns {sorted(expected)}, "
                             f"got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            decision = row["Decision"].strip().lower()
            if decision not in ("yes", "no"):
                raise ValueError(f"{table}: line {line}: Decision must be Yes or No, "
                                 f"got {row['Decision']!r}")
            ends = []
            for key in ("file_x", "file_y"):
                path = by_name.get(row[key].strip())
                if path is None:
                    raise ValueError(f"{table}: line {line}: {key} {row[key]!r} is not a photo "
                                     f"under {root}")
                if path not in index:
                    index[path] = len(photo_set.photos)
                    photo_set.photos.append(path)
                    photo_set.identities.append(path.parent.name)
                ends.append(index[path])
            photo_set.pairs.append((ends[0], ends[1], decision == "yes"))
    return photo_set


def photo_sets(photo_root: str | os.PathLike) -> list[PhotoSet]:
    """The sets under ``photo_root``: a folder with ``master.csv`` gives its pairs, any other
    folder of identity folders gives all pairs of its photos."""
    root = Path(photo_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder of face photos")
    sets = []
    for child in sorted(p for p in root.iterdir() if p.is_dir()):
        photo_set = csv_pairs(child) if (child / PAIRS_FILE).is_file() else folder_pairs(child)
        if photo_set.pairs:
            sets.append(photo_set)
    if not sets:
        raise ValueError(f"{root}: no identity-labelled photo sets found")
    return sets


def crop_photos(paths: list[Path], size: int, margin: float = DEFAULT_MARGIN,
                detector=None) -> dict[Path, np.ndarray]:
    """The largest MTCNN face of each photo, cropped (``margin``) at ``size`` px.
    Photos without a face are left out, and logged."""
    import cv2

    from tfdeepfake.faces.boxes import select_face
    from tfdeepfake.faces.crop import crop_face
    from tfdeepfake.faces.detector import get_detector

    detector = detector or get_detector(detect_short_side=PHOTO_DETECT_SHORT_SIDE)
    crops = {}
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            logger.warning("skipping %s: not a readable image", path)
            continue
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        faces = detector.detect([image])[0]
        if not faces:
            logger.warning("skipping %s: no face found", path)
            continue
        choice = select_face(np.array([f.box for f in faces]).reshape(-1, 4),
                             np.array([f.confidence for f in faces]), "largest")
        crops[path] = crop_face(image, faces[choice].box, size, margin=margin, square=True)
    return crops


def pair_auc(embeddings: np.ndarray, pairs: list[tuple[int, int, bool]]) -> float | None:
    """ROC AUC of "same person" against the negated Euclidean distance (None: one class)."""
    from sklearn.metrics import roc_auc_score

    same = np.array([s for _, _, s in pairs], dtype=bool)
    if same.all() or not same.any():
        return None
    first = embeddings[[i for i, _, _ in pairs]]
    second = embeddings[[j for _, j, _ in pairs]]
    distance = np.linalg.norm(first - second, axis=1)
    return float(roc_auc_score(same, -distance))


def verification_auc(embedder, photo_root: str | os.PathLike, *, margin: float = DEFAULT_MARGIN,
                     required_auc: float = REQUIRED_AUC, detector=None) -> dict:
    """Verification AUC of ``embedder`` (a ``FaceNetEmbedder``) per photo set under
    ``photo_root``, with pair counts, and whether every set reaches ``required_auc``."""
    sets = photo_sets(photo_root)
    every = sorted({p for s in sets for p in s.photos})
    crops = crop_photos(every, embedder.input_size, margin, detector)
    return verification_report(embedder, sets, crops, margin=margin, required_auc=required_auc)


def verification_report(embedder, sets: list[PhotoSet], crops: dict[Path, np.ndarray], *,
                        margin: float = DEFAULT_MARGIN, required_auc: float = REQUIRED_AUC) -> dict:
    """The report of ``verification_auc`` from face crops already made (``crop_photos``),
    so several embedders can be compared on the same crops."""
    every = sorted({p for s in sets for p in s.photos})
    found = [p for p in every if p in crops]
    if not found:
        raise ValueError("no face was found in any photo; nothing to verify")
    vectors = embedder.embed(np.stack([crops[p] for p in found]))
    # Unit length already for FaceNet; normalised here so any embedder is compared alike.
    vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    row = {p: i for i, p in enumerate(found)}
    report = {"facenet": embedder.identity.to_dict(), "facenet_label": embedder.identity.label(),
              "margin": margin, "size": embedder.input_size, "distance": "euclidean",
              "required_auc": required_auc, "photos": len(every),
              "photos_without_face": [str(p) for p in every if p not in crops], "sets": {}}
    for photo_set in sets:
        pairs = [(row[photo_set.photos[i]], row[photo_set.photos[j]], same)
                 for i, j, same in photo_set.pairs
                 if photo_set.photos[i] in row and photo_set.photos[j] in row]
        auc = pair_auc(vectors, pairs) if pairs else None
        report["sets"][photo_set.name] = {
            "auc": auc, "pairs": len(pairs), "same_pairs": sum(s for *_, s in pairs),
            "different_pairs": sum(not s for *_, s in pairs),
            "pairs_skipped": len(photo_set.pairs) - len(pairs),
            "identities": len(set(photo_set.identities))}
        logger.info("%s: verification AUC %s on %d pairs", photo_set.name,
                    "n/a" if auc is None else f"{auc:.4f}", len(pairs))
    aucs = [s["auc"] for s in report["sets"].values() if s["auc"] is not None]
    report["min_auc"] = min(aucs) if aucs else None
    report["passed"] = bool(aucs) and min(aucs) >= required_auc
    return report
