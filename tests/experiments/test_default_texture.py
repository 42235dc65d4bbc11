"""The texture study's cached feature table knows which regions of the face it was computed on."""

import numpy as np
import pytest

from tfdeepfake.experiments.default_texture import table_regions, texture_table


def test_a_cached_table_is_reused_only_for_the_regions_it_was_computed_on(tmp_path):
    # A table from before regions existed holds the face alone.
    np.savez(tmp_path / "texture_features.npz", ids=np.array(["a"]), x=np.zeros((1, 4)))
    table = texture_table("no-cache-needed.h5", tmp_path)
    assert table_regions(table) == ("face",)
    with pytest.raises(ValueError, match=r"texture_features.npz: features of the regions \['face'\]"):
        texture_table("no-cache-needed.h5", tmp_path, regions=("face", "lower-face"))
    np.savez(tmp_path / "texture_features.npz", ids=np.array(["a"]), x=np.zeros((1, 8)),
             regions=np.array(["face", "lower-face"]))
    again = texture_table("no-cache-needed.h5", tmp_path, regions=("face", "lower-face"))
    assert again["x"].shape == (1, 8)
