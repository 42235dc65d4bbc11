"""tf.distribute strategies by name, and a helper to test them on a CPU.

``get_strategy("default")`` is TensorFlow's no-op default strategy (one device);
``"mirrored"`` copies the model onto every local GPU (or the given devices; with no GPU,
onto every logical CPU device, which is how tests run it); ``"multiworker"`` is
``MultiWorkerMirroredStrategy``, configured by the ``TF_CONFIG`` environment variable.

Build and compile models inside ``strategy.scope()``. ``batch_size`` in the pipelines is
the global batch; each replica gets ``batch_size / num_replicas_in_sync``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import tensorflow as tf

from tfdeepfake.constants import STRATEGIES

logger = logging.getLogger(__name__)


def split_cpu_into_logical_devices(n: int) -> list[str]:
    """Split the first physical CPU into ``n`` logical CPU devices; returns their names.

    Must run before TensorFlow initialises its devices (before any op, model or dataset is
    created in the process); afterwards TensorFlow refuses and this raises ``RuntimeError``.
    Tests therefore call it in a fresh subprocess.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
        )
    except RuntimeError as err:
        raise RuntimeError(
            "split_cpu_into_logical_devices must be called before TensorFlow initialises "
            "its devices (before creating any tensor, model or dataset in this process)"
        ) from err
    names = [device.name for device in tf.config.list_logical_devices("CPU")]
    logger.info("CPU split into %d logical devices: %s", len(names), names)
    return names


def get_strategy(name: str = "default", devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """A ``tf.distribute.Strategy`` by name: ``"default"``, ``"mirrored"`` or ``"multiworker"``.

    ``devices`` applies to ``"mirrored"`` only: without it, all GPUs, or with no GPU all
    logical CPU devices.
    """
    key = name.lower()
    if key not in STRATEGIES:
        raise ValueError(f"Unknown strategy {name!r}; valid: {', '.join(STRATEGIES)}")
    if devices is not None and key != "mirrored":
        raise ValueError("devices can only be given for the 'mirrored' strategy")
    if key == "default":
        strategy = tf.distribute.get_strategy()
    elif key == "mirrored":
        if devices is None and not tf.config.list_logical_devices("GPU"):
            devices = [device.name for device in tf.config.list_logical_devices("CPU")]
        if devices is not None and all("CPU" in d.upper() for d in devices):
            # NCCL all-reduce needs GPUs; reduce through one device instead.
            strategy = tf.distribute.MirroredStrategy(
                devices=list(devices), cross_device_ops=tf.distribute.ReductionToOneDevice()
            )
        else:
            strategy = tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    logger.info("Strategy %s with %d replicas", key, strategy.num_replicas_in_sync)
    return strategy


_SHARED: dict[str, tf.distribute.Strategy] = {}


def shared_strategy(name: str = "default") -> tf.distribute.Strategy:
    """``get_strategy(name)``, made once per process: a multi-worker strategy configures
    TensorFlow's collectives once, so later trainings in the same run must reuse it."""
    key = name.lower()
    if key not in _SHARED:
        _SHARED[key] = get_strategy(key)
    return _SHARED[key]


__all__ = ["STRATEGIES", "get_strategy", "shared_strategy", "split_cpu_into_logical_devices"]
