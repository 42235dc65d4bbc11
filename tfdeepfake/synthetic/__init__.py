"""Generated labelled media: real face clips rendered from shipped photos, face-swapped
fakes, no-face clips, folder-layout datasets for the demo, tests and benchmarks, and a Celeb-DF-shaped
stand-in for ``reproduce --quick``.

Importing this package does not import TensorFlow; only ``faceswap.detect_keypoints``
(used for photos without stored landmarks, or videos not rendered here) builds MTCNN.
"""

from tfdeepfake.synthetic.celebdf import make_quick_celebdf, quick_layout_is_current
from tfdeepfake.synthetic.dataset import (
    RESOLUTIONS,
    make_benchmark_video,
    make_benchmark_videos,
    make_identities,
    make_synthetic_dataset,
)
from tfdeepfake.synthetic.faceswap import (
    detect_keypoints,
    face_mask,
    make_swapped_video,
    swap_face,
    swap_frames,
    swap_video,
)
from tfdeepfake.synthetic.photos import Photo, load_photo, make_identity, shipped_photos
from tfdeepfake.synthetic.videos import (
    RenderedVideo,
    make_face_video,
    make_noface_video,
    write_video,
)

__all__ = [
    "RESOLUTIONS",
    "Photo",
    "RenderedVideo",
    "detect_keypoints",
    "face_mask",
    "load_photo",
    "make_benchmark_video",
    "make_benchmark_videos",
    "make_face_video",
    "make_identities",
    "make_identity",
    "make_noface_video",
    "make_quick_celebdf",
    "make_swapped_video",
    "make_synthetic_dataset",
    "quick_layout_is_current",
    "shipped_photos",
    "swap_face",
    "swap_frames",
    "swap_video",
    "write_video",
]
