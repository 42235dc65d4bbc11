"""The embedding cache: one group of per-frame embeddings per video, and the flat table
that training and evaluation read."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tfdeepfake.cache.store import VideoStore

KIND = "embeddings"


@dataclass
class EmbeddingTable:
    """Frames of many videos, row-aligned; ``video_ids`` tells which rows belong together."""

    embeddings: np.ndarray  # [N, D] float32
    labels: np.ndarray  # [N] int
    video_ids: np.ndarray  # [N] str
    frame_indices: np.ndarray  # [N] int
    splits: np.ndarray  # [N] str

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, mask: np.ndarray) -> "EmbeddingTable":
        return EmbeddingTable(self.embeddings[mask], self.labels[mask], self.video_ids[mask],
                              self.frame_indices[mask], self.splits[mask])

    def only_splits(self, *splits: str) -> "EmbeddingTable":
        return self.select(np.isin(self.splits, splits))

    def with_embeddings(self, embeddings: np.ndarray) -> "EmbeddingTable":
        """The same rows described by other features (e.g. the triplet head's outputs)."""
        if len(embeddings) != len(self):
            raise ValueError(f"{len(embeddings)} rows for a table of {len(self)}")
        return EmbeddingTable(np.asarray(embeddings, np.float32), self.labels, self.video_ids,
                              self.frame_indices, self.splits)

    def counts(self) -> dict:
        out = {}
        for split in np.unique(self.splits):
            rows = self.splits == split
            out[str(split)] = {"frames": int(rows.sum()),
                               "videos": int(len(np.unique(self.video_ids[rows]))),
                               "fake_frames": int(self.labels[rows].sum())}
        return out


def embedding_store(path: str | os.PathLike, settings: dict | None = None) -> VideoStore:
    return VideoStore(path, KIND, settings)


def load_embedding_table(path: str | os.PathLike, splits: tuple[str, ...] | None = None) -> EmbeddingTable:
    """Read every video of an embedding cache into one table (optionally some splits)."""
    parts = {"embeddings": [], "labels": [], "video_ids": [], "frame_indices": [], "splits": []}
    dim = 0
    for video in embedding_store(path).iter_videos():
        split = str(video.attrs["split"])
        if splits is not None and split not in splits:
            continue
        emb = np.asarray(video.arrays["embeddings"], np.float32)
        dim = emb.shape[1]
        n = len(emb)
        parts["embeddings"].append(emb)
        parts["labels"].append(np.full(n, int(video.attrs["label"]), np.int32))
        parts["video_ids"].append(np.full(n, video.video_id, dtype=object))
        parts["frame_indices"].append(np.asarray(video.arrays["frame_indices"], np.int32))
        parts["splits"].append(np.full(n, split, dtype=object))
    if not parts["labels"]:
        raise ValueError(f"{path}: no embedded videos" + (f" in splits {splits}" if splits else ""))
    return EmbeddingTable(
        embeddings=np.concatenate(parts["embeddings"]).reshape(-1, dim),
        labels=np.concatenate(parts["labels"]),
        video_ids=np.concatenate(parts["video_ids"]).astype(str),
        frame_indices=np.concatenate(parts["frame_indices"]),
        splits=np.concatenate(parts["splits"]).astype(str))
