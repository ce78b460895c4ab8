# lepton_tf: `make train`, `make quantize`, `make test` on a fresh machine.
# Variables: DATA (folder or tfds:NAME), NAME (run folder under saved_models/),
# MODEL, EPOCHS, METHOD (pqat | 2to4 | cluster | pcqat | xnnpack_sparse: how `make quantize` compresses),
# QAT_EPOCHS, SPARSITY, SET="key=value ..." (any config field),
# OVERWRITE=1 (replace a finished run), CONFIG (with DATA: the recipe named like
# the DATA folder, e.g. configs/cifar10.yaml for DATA=../shared/data/cifar10; else
# for another folder the built-in defaults, which choose the model from the data;
# else configs/$(NAME).yaml when that file exists, e.g. configs/default.yaml).
# `make bench`: QUICK=1 (tiny slices, minutes), RUNS=N (median of N runs),
# BENCH_DATA=cifar10,sst2,trec,photos (which data sets; photos is the transfer row).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
NAME ?= default
RUN_DIR := saved_models/$(NAME)
DATA_RECIPE := $(if $(DATA),$(wildcard configs/$(notdir $(patsubst %/,%,$(DATA))).yaml))
CONFIG ?= $(or $(DATA_RECIPE),$(if $(filter-out tfds:%,$(DATA)),,$(wildcard configs/$(NAME).yaml)))

TRAIN_SETS := $(if $(DATA),--set data.source=$(DATA)) $(if $(MODEL),--set model.name=$(MODEL)) \
              $(if $(EPOCHS),--set train.epochs=$(EPOCHS))
OPTIMIZE_SETS := $(if $(METHOD),--set optimize.method=$(METHOD)) \
                 $(if $(QAT_EPOCHS),--set optimize.qat_epochs=$(QAT_EPOCHS)) \
                 $(if $(SPARSITY),--set optimize.sparsity=$(SPARSITY)) \
                 $(foreach setting,$(SET),--set $(setting))

.PHONY: install train quantize test test-slow bench notebooks notebooks-sync clean

# MediaPipe Tasks (metadata schema + the client that checks exported files)
# pins absl-py~=2.3 while tensorflow-model-optimization 0.8.1 pins absl-py~=1.2,
# so pip cannot resolve both in one step. It is installed in a second step
# that moves absl-py to 2.x (pip prints the conflict and proceeds); TF-MOT's
# pruning, QAT, PQAT and conversion run correctly on it (the tests cover them).
MEDIAPIPE ?= mediapipe==1.2.2
# The ImageNet-C corruptions (robustness reports). Its metadata asks for opencv-python,
# a second copy of the cv2 module next to MediaPipe's opencv-contrib-python, so it is
# installed without dependencies; its other needs are in setup.cfg.
IMAGECORRUPTIONS ?= imagecorruptions-imaug==1.1.5

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet '$(MEDIAPIPE)'
	$(BIN)/python -m pip install --quiet --no-deps '$(IMAGECORRUPTIONS)'
	$(BIN)/python -c "import mediapipe.tasks.python.vision, tensorflow_model_optimization, imagecorruptions"
	touch $@

install: $(VENV)/.installed

train: install
	$(BIN)/lepton train $(RUN_DIR) $(if $(CONFIG),--config $(CONFIG)) $(if $(OVERWRITE),--overwrite) $(TRAIN_SETS) $(OPTIMIZE_SETS)

quantize: install
	$(BIN)/lepton quantize $(RUN_DIR) $(OPTIMIZE_SETS)

test: install
	$(BIN)/python -m pytest --durations=25

test-slow: install
	$(BIN)/python -m pytest -m slow

# Measures the whole chain on ../shared/data next to the TensorFlow tutorial
# recipe, and (photos) our defaults next to the from-scratch ResNet and MediaPipe
# Model Maker's recipe on photo-sized CIFAR-10 files; writes
# benchmarks/results/*.json and README's tables.
bench: install
	$(BIN)/python -m benchmarks $(if $(QUICK),--quick) $(if $(RUNS),--runs $(RUNS)) $(if $(BENCH_DATA),--data $(BENCH_DATA))

# Runs every tutorial top to bottom in quick mode (also part of `make test-slow`).
notebooks: install
	$(BIN)/python -m pytest -m "slow or not slow" tests/test_notebooks.py

# After editing a notebook's .py (or .ipynb): regenerate its pair, without outputs.
notebooks-sync: install
	$(BIN)/jupytext --to ipynb notebooks/*.py

clean:
	find saved_models -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -exec rm -rf {} +
