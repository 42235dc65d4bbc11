"""Facts shared by every stage. Label 1 means fake everywhere in the project."""

REAL = 0
FAKE = 1
LABEL_NAMES = {REAL: "real", FAKE: "fake"}

SPLITS = ("train", "val", "test")

# The poster sampled 25 frames per video.
DEFAULT_NUM_FRAMES = 25

# keras-facenet's InceptionResNetV1 (model 20180402-114759).
FACENET_INPUT_SIZE = 160
FACENET_EMBEDDING_DIM = 512
XCEPTION_INPUT_SIZE = 299

DEFAULT_SEED = 0
