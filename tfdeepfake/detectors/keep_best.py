"""The best epoch of a Keras training run: found in a history, and kept in the model.

tf-keras 2.15's ``EarlyStopping(restore_best_weights=True)`` restores only when it stops
training itself; ``KeepBest`` restores however training ends."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np


def best_epoch(history: Mapping[str, Sequence[float]], monitor: str) -> int | None:
    """1-based epoch with the lowest finite ``monitor`` value, or None."""
    values = np.asarray(history.get(monitor, []), dtype=float)
    if not values.size or not np.isfinite(values).any():
        return None
    return int(np.nanargmin(np.where(np.isfinite(values), values, np.nan))) + 1


class KeepBest:
    """A Keras callback that remembers the weights of the epoch with the lowest ``monitor``
    and puts them back when training ends, however it ends.

    tf-keras 2.15's ``EarlyStopping(restore_best_weights=True)`` restores only when it stops
    training itself; a run that uses all its epochs would keep the last epoch's weights.
    """

    def __new__(cls, monitor: str = "val_loss"):
        from tensorflow import keras

        class _KeepBest(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.monitor = monitor
                self.best = math.inf
                self.best_epoch: int | None = None  # 1-based
                self._weights = None

            def on_epoch_end(self, epoch, logs=None):
                value = (logs or {}).get(self.monitor)
                if value is None or not math.isfinite(float(value)):
                    return
                if float(value) < self.best:
                    self.best = float(value)
                    self.best_epoch = epoch + 1
                    self._weights = self.model.get_weights()

            def on_train_end(self, logs=None):
                if self._weights is not None:
                    self.model.set_weights(self._weights)

        return _KeepBest()
