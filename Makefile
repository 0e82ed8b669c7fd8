# One-command set-up and the standard jobs. PY is the interpreter that makes the venv.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# default plugins (the "segctl" meta-distribution's dependencies) install with their dependencies;
# the heavy export plugins install without them (--no-deps) so they are listed, with the exact
# install command, by `segctl export formats`; `make install-<runtime>` adds a runtime.
PLUGINS := models_yolov8 dataset_yolo dataset_coco dataset_shapes tasks_segment loggers export_onnx export_torchscript
HEAVY := $(filter-out $(PLUGINS),$(notdir $(wildcard plugins/*)))
# torch from this machine's local wheel store (CPU use; CUDA build on x86_64); pinned project-wide.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: install install-extras uninstall-extras install-tfjs demo test test-tfjs test-fast bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ./core $(foreach p,$(PLUGINS),-e ./plugins/$(p)) -e ".[dev]" $(TORCH)
	$(BIN)/pip install -q --no-deps $(foreach p,$(HEAVY),-e ./plugins/$(p))

demo: install
	bash scripts/demo.sh

# The default plugins' tests run in one xdist session; each heavy export plugin runs in a pytest process
# of its own, because some runtimes' native libraries cannot share a process (TensorFlow with Paddle or
# coremltools segfaults) -- their suites skip cleanly where the runtime is not installed.
HEAVY_TESTS := $(foreach p,$(HEAVY),plugins/$(p))
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider

test-fast:
	$(PYTEST) -m "not slow" -n 2 --dist loadfile $(foreach p,$(HEAVY_TESTS),--ignore=$(p))

test:
	$(PYTEST) -n 2 --dist loadfile $(foreach p,$(HEAVY_TESTS),--ignore=$(p))
	set -e; for p in $(HEAVY_TESTS); do echo "== $$p"; $(PYTEST) $$p || [ $$? -eq 5 ]; done  # 5: every test skipped at collection (runtime absent)
	if [ -x $(TFJS_VENV)/bin/python ]; then $(MAKE) test-tfjs; else echo "== TF.js environment absent (make install-tfjs): its suite skipped"; fi

# The TF.js plugin's suite in its own environment (see install-tfjs), Node's TensorFlow.js included.
test-tfjs:
	SEGCTL_TFJS_NODE_MODULES=$(CURDIR)/$(TFJS_VENV)/node/node_modules $(TFJS_VENV)/bin/python -m pytest -q -p no:cacheprovider plugins/export_tfjs

bench:
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(TFJS_VENV) runs demo

# Runtimes of the heavy plugins (the export formats; Ray Data for the ray runner), pinned to versions
# that install together with torch 2.14.1, onnx 1.23.2 and numpy 2.4 on Python 3.11 (see
# docs/export-formats.md, docs/export-tensorflow.md, docs/scale-out.md).
# coremltools==9.0 is left out: importing it where TensorFlow 2.21 is installed segfaults, so the
# CoreML plugin is tested in an environment of its own (pip install coremltools==9.0, no TensorFlow).
EXTRAS := openvino==2026.4.1 nncf==3.4.0 pnnx==20260526 ncnn==1.0.20261020 \
	paddlepaddle==3.2.2 x2paddle==1.6.0 six==1.17.0 \
	tensorflow-cpu==2.21.0 onnx2tf==1.28.8 tf_keras==2.21.0 onnx_graphsurgeon==0.6.1 sng4onnx==2.0.1 \
	ai-edge-litert==2.3.0 psutil onnx==1.23.2 \
	ray==2.60.0 pyarrow==26.0.1 pandas==3.1.1

install-extras: install
	$(BIN)/pip install -q $(EXTRAS) $(TORCH)

# Back to the default set (after a failed install-extras, e.g. a full disk): the runtimes go, the default
# plugins' own dependencies (onnx, psutil, six) stay; the heavy plugins' suites then skip at collection.
RUNTIMES := $(filter-out onnx psutil six,$(foreach e,$(EXTRAS),$(firstword $(subst ==, ,$(e)))))
uninstall-extras:
	$(BIN)/pip uninstall -y -q $(RUNTIMES) tensorflow keras || true

# TF.js: tensorflowjs 4.22's converter imports tensorflow_decision_forests, whose native ops only load
# with TF 2.16.2 + TF-DF 1.9.2 (protobuf 4) -- incompatible with TF 2.21 / onnx 1.23 above. So the
# tfjs plugin gets a venv of its own with the chain it needs (onnx -> saved_model -> tfjs), plus
# @tensorflow/tfjs from npm to run the web models in TensorFlow.js itself (docs/export-tensorflow.md).
TFJS_VENV ?= .venv-tfjs
TFJS_RUNTIME := tensorflow-cpu==2.16.2 tensorflow-decision-forests==1.9.2 tf-keras==2.16.0 tensorflow-hub==0.16.1 \
	jax==0.4.30 jaxlib==0.4.30 packaging==23.2 "setuptools<81" numpy==1.26.4 protobuf==4.25.9 onnx==1.17.0 \
	onnx2tf==1.28.8 onnx_graphsurgeon==0.6.1 sng4onnx==2.0.1 ai-edge-litert==2.3.0 psutil "pytest>=8"
TFJS_PLUGINS := models_yolov8 dataset_yolo dataset_coco dataset_shapes tasks_segment loggers export_onnx

$(TFJS_VENV)/bin/python:
	$(PY) -m venv $(TFJS_VENV)

# torch 2.14.1 here is the CUDA build (torch + triton + nvidia-* = 5.3 GB): where the main venv has it,
# its installed files are hard-linked in instead of installed a second time (scripts/link_packages.py).
SHARED_WITH_TFJS := torch torchvision triton 'nvidia-*' 'cuda-*'

install-tfjs: $(TFJS_VENV)/bin/python
	if [ -x $(BIN)/python ]; then $(PY) scripts/link_packages.py $(VENV) $(TFJS_VENV) $(SHARED_WITH_TFJS); fi
	$(TFJS_VENV)/bin/pip install -q $(TORCH)
	$(TFJS_VENV)/bin/pip install -q -e ./core $(foreach p,$(TFJS_PLUGINS),-e ./plugins/$(p)) $(TFJS_RUNTIME) $(TORCH)
	$(TFJS_VENV)/bin/pip install -q --no-deps tensorflowjs==4.22.0 -e ./plugins/export_saved_model -e ./plugins/export_pb -e ./plugins/export_tfjs
	npm install --silent --no-audit --no-fund --prefix $(TFJS_VENV)/node @tensorflow/tfjs@4.22.0
