"""detect --report: the frame plot, the face sheet, the heat-map sheet and verdict.json,
drawn from hand-written verdicts (what VideoDetector.inspect returns), without a network."""

import json

import cv2
import numpy as np
import pytest

from tfdeepfake.visualize.report import (
    TILE,
    face_sheet,
    pick_heat_map_faces,
    plot_frame_scores,
    write_report,
)


def _verdict(frames, *, frame_level=True, verdict="fake", probability=0.6, reason=""):
    return {"path": "/videos/clip.mp4", "verdict": verdict, "fake_probability": probability,
            "threshold": 0.5, "aggregation": "mean", "frame_level": frame_level, "fps": 10.0,
            "random_init_facenet": False, "reason": reason, "frames_sampled": len(frames),
            "frames": [{"index": i, "time": i / 10, "box": box, "fake_probability": p}
                       for i, box, p in frames]}


BOX = [10.0, 10.0, 50.0, 60.0]
FRAMES = [(0, BOX, 0.1), (10, None, None), (20, BOX, 0.9), (30, BOX, 0.4), (40, BOX, 0.95)]


def _faces(n, seed=0):
    return np.random.RandomState(seed).randint(0, 255, (n, 64, 64, 3)).astype(np.uint8)


def _png(path):
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


@pytest.mark.parametrize("verdict", [
    _verdict(FRAMES),
    _verdict([(i, BOX, None) for i in range(0, 40, 10)], frame_level=False),  # lstm
    _verdict([], verdict="unknown", probability=None, reason="cannot read video"),
], ids=["frame-level", "video-level", "unreadable"])
def test_the_frame_plot_is_a_png_of_the_stated_size(tmp_path, verdict):
    image = _png(plot_frame_scores(verdict, tmp_path / "frames.png"))
    assert image.shape[:2] == (320, 800)
    assert image.std() > 10  # something is drawn


def _plot(verdict, path, monkeypatch):
    """The frame plot's PNG, and a function giving the pixel (row, column) of a data point
    in it, read from the figure that was saved."""
    from matplotlib.figure import Figure

    saved = []
    real_savefig = Figure.savefig

    def savefig(fig, *args, **kwargs):
        saved.append(fig)
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    image = _png(plot_frame_scores(verdict, path))
    (fig,) = saved
    ax = fig.axes[0]

    def pixel(x, y):
        px, py = ax.transData.transform((x, y))  # from the bottom left, at the figure's dpi
        return int(round(image.shape[0] - py)), int(round(px))

    return image, pixel


def _dark_share_of_row(image, row, first, last):
    """Share of columns first..last with a dark pixel within a row of ``row``."""
    band = image[row - 1:row + 2, first:last].min(axis=2).min(axis=0)
    return float((band < 100).mean())


def test_the_frame_plot_draws_the_threshold_and_marks_the_frames_without_a_face(tmp_path, monkeypatch):
    """The size test passed with the threshold line or the no-face marks missing: find them
    in the pixels, where the figure's own axes put them."""
    rows = {}
    for threshold in (0.3, 0.7):
        verdict = dict(_verdict(FRAMES), threshold=threshold)
        image, pixel = _plot(verdict, tmp_path / f"t{threshold}.png", monkeypatch)
        (_, left), (_, right) = pixel(0.0, 0.0), pixel(4.0, 0.0)  # the frames span 0-4 s
        rows[threshold] = {t: _dark_share_of_row(image, pixel(2.0, t)[0], left, right)
                           for t in (0.3, 0.7)}
    # The dashed black line (about 70% ink) lies at the threshold, and only there.
    assert rows[0.3][0.3] > 0.5 and rows[0.3][0.7] < 0.1
    assert rows[0.7][0.7] > 0.5 and rows[0.7][0.3] < 0.1

    def mark(frames, name):
        image, pixel = _plot(_verdict(frames), tmp_path / name, monkeypatch)
        row, col = pixel(1.0, 0.02)  # frame 10 (1.0 s) has no face: an x at the bottom
        patch = image[row - 3:row + 4, col - 3:col + 4].astype(int)
        # Grey ink (0.35: about 89 in every channel), not the light grid.
        return int(((patch.max(axis=2) < 140) & (np.ptp(patch, axis=2) < 30)).sum())

    assert mark(FRAMES, "faceless.png") >= 5
    assert mark([f for f in FRAMES if f[0] != 10], "all_faces.png") == 0


def test_the_face_sheet_lays_out_one_captioned_tile_per_face(tmp_path):
    verdict = _verdict(FRAMES)
    image = _png(face_sheet(_faces(4), verdict, tmp_path / "faces.png", columns=3))
    tile_w = TILE + 4
    assert image.shape[1] == 3 * tile_w
    rows = 2
    assert image.shape[0] % rows == 0 and image.shape[0] // rows > TILE
    # The second tile shows face 1 (frame 20), resized to the tile; its caption bar is red (p 0.9).
    tile = image[2:2 + TILE, tile_w + 2:tile_w + 2 + TILE]
    expected = cv2.resize(_faces(4)[1], (TILE, TILE), interpolation=cv2.INTER_AREA)[..., ::-1]
    assert np.abs(tile.astype(int) - expected).mean() < 2
    bar = image[TILE + 5, tile_w + 100]  # BGR
    assert bar[2] > 200 and bar[1] < 120
    with pytest.raises(ValueError, match="3 face crops for 4 frames"):
        face_sheet(_faces(3), verdict, tmp_path / "x.png")


def test_heat_maps_go_to_the_most_fake_looking_faces():
    assert pick_heat_map_faces(_verdict(FRAMES), 2) == [1, 3]  # p 0.9 and 0.95, frame order
    lstm = _verdict([(i, BOX, None) for i in range(0, 100, 10)], frame_level=False)
    assert pick_heat_map_faces(lstm, 4) == [0, 3, 6, 9]  # no scores: evenly spaced
    assert pick_heat_map_faces(_verdict([]), 4) == []


class _HeatMapDetector:
    """Stands in for a detector offering heat maps: a map bright in the top-left corner."""

    heat_map_kind = "test"

    def __init__(self):
        self.calls = []

    def heat_map(self, faces, variant=None):
        self.calls.append((len(faces), variant))
        maps = np.zeros(faces.shape[:3], np.float32)
        maps[:, :16, :16] = 1.0
        return maps


def test_write_report_writes_every_picture_and_the_verdict(tmp_path):
    detector = _HeatMapDetector()
    written = write_report(_verdict(FRAMES), _faces(4), tmp_path / "r", detector=detector,
                           variant="knn", heat_map_faces=2)
    assert sorted(written) == ["faces", "frames", "heatmap", "json"]
    assert detector.calls == [(2, "knn")]
    heat = _png(written["heatmap"])
    assert heat.shape[1] == 4 * (TILE + 4)  # two faces, each beside its map
    summary = json.loads((tmp_path / "r" / "verdict.json").read_text())
    assert summary["report"] == {"frames": "frames.png", "faces": "faces.png",
                                 "heatmap": "heatmap.png"}
    assert [f["index"] for f in summary["frames"]] == [0, 10, 20, 30, 40]


def test_a_video_without_faces_gets_the_plot_only(tmp_path):
    verdict = _verdict([(0, None, None), (10, None, None)], verdict="unknown", probability=None,
                       reason="no face found in any of 2 sampled frames")
    written = write_report(verdict, np.zeros((0, 64, 64, 3), np.uint8), tmp_path / "r",
                           detector=_HeatMapDetector())
    assert sorted(written) == ["frames", "json"]
