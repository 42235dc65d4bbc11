"""Face settings: everything that decides which face crops a video yields.

One frozen object, owned by this stage and recorded in every face cache part and model
folder; it is compared field by field when a cache or model is reused.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from tfdeepfake.constants import DEFAULT_NUM_FRAMES, FACENET_INPUT_SIZE
from tfdeepfake.faces.boxes import FACE_POLICIES
from tfdeepfake.faces.detector import DetectorConfig
from tfdeepfake.video.sampling import SAMPLING_MODES


@dataclass(frozen=True)
class FaceSettings:
    """Everything that decides which faces land in the cache."""

    num_frames: int = DEFAULT_NUM_FRAMES
    sampling: str = "uniform"
    stride: int | None = None
    face_policy: str = "largest"
    # Total fraction of the box added around the face; 1/3 matches the reference code's
    # 40 px margin at 160 px crops (facenet-pytorch adds margin * w / (160 - margin)).
    margin: float = 0.33
    square: bool = True
    size: int = FACENET_INPUT_SIZE
    detector: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self):
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.sampling not in SAMPLING_MODES:
            raise ValueError(f"unknown sampling {self.sampling!r}; valid: {', '.join(SAMPLING_MODES)}")
        if self.sampling == "stride" and not (self.stride and self.stride >= 1):
            raise ValueError("sampling 'stride' needs stride >= 1")
        if self.face_policy not in FACE_POLICIES:
            raise ValueError(f"unknown face policy {self.face_policy!r}; valid: {', '.join(FACE_POLICIES)}")
        if self.size < 32:
            raise ValueError(f"size must be >= 32, got {self.size}")

    def to_dict(self) -> dict:
        settings = asdict(self)
        settings["detector"] = self.detector.to_dict()
        return settings

    @classmethod
    def from_dict(cls, settings: dict) -> "FaceSettings":
        """Rebuild saved settings; unknown keys are an error naming the valid ones."""
        settings = dict(settings)
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - valid)
        if unknown:
            raise ValueError(f"unknown face settings {unknown}; valid: {sorted(valid)}")
        detector = DetectorConfig.from_dict(settings.pop("detector", {}))
        return cls(detector=detector, **settings)
