import json
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest
import tensorflow as tf

from tfdeepfake.models.strategy import STRATEGIES, get_strategy


def test_default_strategy():
    strategy = get_strategy("default")
    assert strategy is tf.distribute.get_strategy()
    assert strategy.num_replicas_in_sync == 1


def test_unknown_strategy_lists_valid_ones():
    with pytest.raises(ValueError) as info:
        get_strategy("tpu")
    for name in STRATEGIES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="mirrored"):
        get_strategy("default", devices=["/cpu:0"])


# Logical devices must be configured before TensorFlow starts, so this runs in a fresh process.
MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, tempfile
    import numpy as np
    from tfdeepfake.models.strategy import get_strategy, split_cpu_into_logical_devices
    devices = split_cpu_into_logical_devices(2)
    strategy = get_strategy("mirrored")
    from tfdeepfake.models.train_baselines import LSTMTrainingConfig, train_lstm
    from tfdeepfake.pipelines.sequences import SequenceArrays
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 8)
    features = rng.normal(size=(16, 4, 3)).astype(np.float32)
    features[:, :, 0] += np.where(labels == 1, 2.0, -2.0)[:, None]
    arrays = SequenceArrays(features, np.ones((16, 4), bool), labels, [f"v{i}" for i in range(16)])
    config = LSTMTrainingConfig(num_frames=4, units=4, epochs=1, batch_size=8, tensorboard=False,
                                optimizer="adam", learning_rate=0.01)
    result = train_lstm(arrays, None, config, tempfile.mkdtemp(), strategy)
    try:
        split_cpu_into_logical_devices(3)
        late_error = None
    except RuntimeError as err:
        late_error = str(err)
    print("RESULT" + json.dumps({
        "devices": devices,
        "replicas": strategy.num_replicas_in_sync,
        "variable_type": type(result.model.get_layer("lstm").weights[0]).__name__,
        "loss": result.history["loss"],
        "late_error": late_error,
    }))
    """
)


def test_mirrored_strategy_on_two_logical_cpus_trains():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(l for l in done.stdout.splitlines() if l.startswith("RESULT"))
    result = json.loads(line[len("RESULT"):])
    assert len(result["devices"]) == 2
    assert result["replicas"] == 2
    assert result["variable_type"] == "MirroredVariable"
    assert len(result["loss"]) == 1 and all(v == v for v in result["loss"])  # finite, not NaN
    assert result["late_error"] and "before TensorFlow initialises" in result["late_error"]
