import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np
import pytest
from tensorflow import keras

from tfdeepfake.constants import REAL
from tfdeepfake.models.gradcam import grad_cam, grid_image, overlay_heatmap, save_grid, save_overlays
from tfdeepfake.models.xception import build_xception_classifier

SIZE = 24
PATCH = (slice(3, 9), slice(14, 20))  # rows, cols of the planted "fake" patch


def toy_images(n, rng):
    images = rng.uniform(0, 120, size=(n, SIZE, SIZE, 3)).astype(np.float32)
    labels = np.arange(n) % 2
    images[labels == 1, PATCH[0], PATCH[1], :] = 255.0
    return images, labels.astype(np.float32)


@pytest.fixture(scope="module")
def patch_model():
    """A tiny conv net trained so that a bright patch at a known place means fake."""
    keras.utils.set_random_seed(0)
    image = keras.Input((SIZE, SIZE, 3), name="image")
    x = keras.layers.Rescaling(1 / 255.0)(image)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    output = keras.layers.Dense(1, activation="sigmoid", name="fake_probability")(x)
    model = keras.Model(image, output)
    model.compile(keras.optimizers.Adam(1e-2), loss="binary_crossentropy", metrics=["accuracy"])
    images, labels = toy_images(128, np.random.default_rng(0))
    model.fit(images, labels, batch_size=32, epochs=40, verbose=0)
    test_images, test_labels = toy_images(16, np.random.default_rng(1))
    assert model.evaluate(test_images, test_labels, verbose=0)[1] == 1.0
    return model


def test_heatmap_peaks_inside_the_planted_patch(patch_model):
    images, labels = toy_images(8, np.random.default_rng(2))
    fakes = images[labels == 1]
    heatmaps = grad_cam(patch_model, fakes, layer_name="conv2")
    assert heatmaps.shape == (len(fakes), SIZE, SIZE)
    assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0
    for heatmap in heatmaps:
        row, col = np.unravel_index(np.argmax(heatmap), heatmap.shape)
        assert PATCH[0].start <= row < PATCH[0].stop and PATCH[1].start <= col < PATCH[1].stop
        outside = np.ones(heatmap.shape, bool)
        outside[PATCH] = False
        assert heatmap[PATCH].mean() > 4 * heatmap[outside].mean()


def test_default_layer_and_output_size(patch_model):
    images, _ = toy_images(2, np.random.default_rng(3))
    assert grad_cam(patch_model, images).shape == (2, SIZE, SIZE)  # last 4-D layer: conv2
    assert grad_cam(patch_model, images, output_size=(48, 40)).shape == (2, 48, 40)
    real_maps = grad_cam(patch_model, images, layer_name="conv1", target_class=REAL)
    assert real_maps.shape == (2, SIZE, SIZE)
    with pytest.raises(ValueError, match="conv2"):
        grad_cam(patch_model, images, layer_name="block14_sepconv2_act")
    with pytest.raises(ValueError, match="target_class"):
        grad_cam(patch_model, images, target_class=2)


def test_xception_default_layer_shape():
    model = build_xception_classifier(71, seed=0)
    images = np.random.default_rng(4).integers(0, 256, (2, 71, 71, 3), dtype=np.uint8)
    heatmaps = grad_cam(model, images)  # block14_sepconv2_act: 3x3 at 71x71
    assert heatmaps.shape == (2, 3, 3)
    assert heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0


def test_overlay_heatmap():
    face = np.full((32, 40, 3), 100, np.uint8)
    heatmap = np.zeros((4, 5), np.float32)
    heatmap[0, 0] = 1.0
    overlay = overlay_heatmap(face, heatmap, alpha=0.4)
    assert overlay.shape == face.shape and overlay.dtype == np.uint8
    np.testing.assert_array_equal(overlay_heatmap(face, heatmap, alpha=0.0), face)
    # JET: hot is red, cold is blue (RGB order)
    assert overlay[0, 0, 0] > overlay[0, 0, 2]
    assert overlay[-1, -1, 2] > overlay[-1, -1, 0]
    with pytest.raises(ValueError):
        overlay_heatmap(face[..., 0], heatmap)


def test_save_overlays_writes_pngs(tmp_path):
    faces = np.full((2, 16, 16, 3), 50, np.uint8)
    heatmaps = np.random.default_rng(5).uniform(size=(2, 4, 4)).astype(np.float32)
    paths = save_overlays(tmp_path / "cams", faces, heatmaps, names=["celebdf/id0_0000", "b"])
    assert [p.name for p in paths] == ["celebdf_id0_0000.png", "b.png"]
    for path, face, heatmap in zip(paths, faces, heatmaps):
        written = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(written, overlay_heatmap(face, heatmap))
    with pytest.raises(ValueError):
        save_overlays(tmp_path, faces, heatmaps[:1])


def test_grid_lays_out_rows_and_pads_the_last(tmp_path):
    images = [np.full((4, 6, 3), 10 * (i + 1), np.uint8) for i in range(5)]
    grid = grid_image(images, columns=2)
    assert grid.shape == (12, 12, 3)
    assert grid[0, 0, 0] == 10 and grid[0, 6, 0] == 20 and grid[8, 0, 0] == 50
    assert not grid[8:, 6:].any()  # the missing sixth image is black
    assert grid_image(images[:1], columns=4).shape == (4, 6, 3)
    paths = save_overlays(tmp_path, np.stack(images[:3]), np.zeros((3, 2, 2), np.float32), alpha=0.0)
    written = cv2.imread(str(save_grid(tmp_path / "grid.png", paths, columns=3)))
    assert written.shape == (4, 18, 3) and written[0, 13, 0] == 30
    with pytest.raises(ValueError):
        grid_image([])


def test_overlays_and_grid_go_into_a_folder_whose_name_is_not_utf8(tmp_path):
    """cv2.imwrite / imread segfaulted on such a path (issue 22): run in a subprocess so a
    crash fails this test instead of killing pytest."""
    import subprocess
    import sys

    script = (
        "import os, sys, numpy as np\n"
        "from pathlib import Path\n"
        "from tfdeepfake.models.gradcam import save_grid, save_overlays\n"
        "out = Path(sys.argv[1]) / os.fsdecode(b'caf\\xe9')\n"
        "faces = np.zeros((2, 16, 16, 3), np.uint8)\n"
        "paths = save_overlays(out, faces, np.ones((2, 4, 4), np.float32))\n"
        "save_grid(out / 'grid.png', paths, columns=2)\n"
        "print(len(os.listdir(out)))\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "3"
