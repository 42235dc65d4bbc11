"""Occlusion maps: the regions whose hiding moves the output are the bright ones."""

import numpy as np
import pytest

from tfdeepfake.models.occlusion import occlusion_maps, patch_positions


def test_patches_cover_each_side_to_the_edge():
    assert patch_positions(10, 4, 3) == [0, 3, 6]
    assert patch_positions(10, 4, 4) == [0, 4, 6]  # the last one moved back to the edge
    assert patch_positions(8, 8, 2) == [0]
    with pytest.raises(ValueError, match="patch"):
        patch_positions(8, 9, 2)


def test_the_map_is_bright_where_the_output_looks_and_dark_elsewhere():
    faces = np.random.RandomState(0).randint(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    faces[1] = 255  # a white face: the grey patch moves the watched corner a lot

    def score(images):  # looks only at the top-left 8x8 corner; a vector output
        corner = images[:, :8, :8].astype(np.float64).mean(axis=(1, 2))
        return corner / 255.0

    maps = occlusion_maps(faces, score, patch=0.25, stride=0.125)
    assert maps.shape == (2, 32, 32) and maps.dtype == np.float32
    for heat in maps:
        assert heat.max() == pytest.approx(1.0)
        assert heat[:4, :4].mean() == pytest.approx(1.0)  # every patch over it moves the score
        assert heat[16:, 16:].max() == 0.0  # patches there never touch the corner


def test_an_output_nothing_moves_gives_a_zero_map():
    faces = np.zeros((1, 16, 16, 3), np.uint8)
    maps = occlusion_maps(faces, lambda images: np.ones(len(images)))
    assert not maps.any()
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        occlusion_maps(np.zeros((16, 16, 3), np.uint8), lambda images: np.ones(len(images)))
