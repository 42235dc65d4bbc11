"""Facts shared by every stage. Label 1 means fake everywhere in the project."""

REAL = 0
FAKE = 1
LABEL_NAMES = {REAL: "real", FAKE: "fake"}

SPLITS = ("train", "val", "test")

# The poster sampled 25 frames per video.
DEFAULT_NUM_FRAMES = 25

# keras-facenet's InceptionResNetV1: both versions take 160 px faces. The embedding size
# depends on the version (512 for the default 20180402-114759, 128 for 20170512-110547; see
# tfdeepfake.models.facenet.FACENET_MODELS): read it from the embedder or the cache, this
# constant is only the default model's.
FACENET_INPUT_SIZE = 160
FACENET_EMBEDDING_DIM = 512
XCEPTION_INPUT_SIZE = 299

DEFAULT_SEED = 0

# tf.distribute strategies by name (tfdeepfake.models.strategy builds them).
STRATEGIES = ("default", "mirrored", "multiworker")
