"""A prefix for subprocess scripts: importing TensorFlow, Keras, h5py or the mtcnn package
(which imports TensorFlow) raises ImportError there, and every attempt is recorded."""

BLOCKED = ("tensorflow", "tf_keras", "keras", "h5py", "mtcnn")

BLOCKER = f'''
import sys
BLOCKED = {BLOCKED!r}
ATTEMPTS = []

class _Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            ATTEMPTS.append(name)
            raise ImportError(f"{{name}} is blocked: tfdeepfake.lite must run without it")
        return None

sys.meta_path.insert(0, _Block())
try:
    import h5py  # noqa: F401  (proves the blocker works)
    raise SystemExit("the blocker did not block h5py")
except ImportError:
    ATTEMPTS.clear()

def loaded_blocked():
    return sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED and sys.modules[m])
'''
