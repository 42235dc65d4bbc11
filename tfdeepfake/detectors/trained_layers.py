"""A network's trained layers alone, for model folders that start from a registry network.

A fine-tuned ``sbi`` network keeps FaceNet's layers before ``trainable_from`` exactly as
loaded, so a folder that is shipped (the bundled default model) need not carry them: the
FaceNet weights come from ``tfdeepfake weights install`` and the file here holds only the
layers that training changed, optionally in float16 (half the bytes; for the default
model's texture head the face probabilities moved by at most 0.0004 against the float64 fit).

The file is HDF5 (``h5py``, no pickle): one group per layer, named by the layer, holding the
layer's weights as datasets ``"0"``, ``"1"``, ... in ``layer.weights`` order; the root records
the dtype and the layer count.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

DTYPES = ("float32", "float16")


class TrainedLayersError(ValueError):
    """A trained-layers file that does not fit the network (names the file)."""


def all_layers(model) -> Iterator:
    """Every layer of ``model``, nested models' layers included (each once)."""
    seen = set()
    stack = list(reversed(model.layers))
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        inner = getattr(layer, "layers", None)
        if inner:
            stack.extend(reversed(inner))
        else:
            yield layer


def trained_layers(model) -> list:
    """The layers with weights that training may have changed (``trainable``)."""
    return [layer for layer in all_layers(model) if layer.trainable and layer.weights]


def save_trained_layers(model, path: str | os.PathLike, dtype: str = "float16", *,
                        layers: list | None = None) -> Path:
    """Write ``model``'s trainable layers' weights (all of each such layer's weights,
    BatchNorm statistics included) to ``path``; ``layers`` names others instead (adapted
    BatchNorm statistics of frozen layers)."""
    if dtype not in DTYPES:
        raise ValueError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPES)}")
    path = Path(path)
    layers = trained_layers(model) if layers is None else layers
    names = [layer.name for layer in layers]
    if len(set(names)) != len(names):
        raise ValueError("layer names repeat in the network; they cannot key the file")
    partial = path.with_name(path.name + ".partial")
    with h5py.File(partial, "w") as out:
        out.attrs["dtype"] = dtype
        out.attrs["layers"] = len(layers)
        for layer in layers:
            group = out.create_group(layer.name)
            for i, value in enumerate(layer.get_weights()):
                group.create_dataset(str(i), data=np.asarray(value, dtype))
    os.replace(partial, path)
    return path


def load_trained_layers(model, path: str | os.PathLike) -> int:
    """Set the layers named in ``path`` on ``model`` (float32); returns how many. A layer
    the network lacks, or weights of another shape, is a ``TrainedLayersError``."""
    path = Path(path)
    by_name = {layer.name: layer for layer in all_layers(model)}
    try:
        with h5py.File(path, "r") as data:
            count = 0
            for name, group in data.items():
                layer = by_name.get(name)
                if layer is None:
                    raise TrainedLayersError(f"{path}: layer {name!r} is not in the network")
                values = [np.asarray(group[str(i)], np.float32) for i in range(len(group))]
                expected = [tuple(w.shape) for w in layer.weights]
                if [v.shape for v in values] != expected:
                    raise TrainedLayersError(f"{path}: layer {name!r} holds shapes "
                                             f"{[v.shape for v in values]}, the network {expected}")
                layer.set_weights(values)
                count += 1
            if count != int(data.attrs.get("layers", count)):
                raise TrainedLayersError(f"{path}: {count} layers, the file says "
                                         f"{data.attrs.get('layers')}")
            return count
    except OSError as error:
        raise TrainedLayersError(f"{path}: not a trained-layers file ({error})") from None


__all__ = ["DTYPES", "TrainedLayersError", "all_layers", "load_trained_layers",
           "save_trained_layers", "trained_layers"]
