# One-command set-up and the standard jobs. PY is the interpreter that makes the venv.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# default plugins (the "segctl" meta-distribution's dependencies) install with their dependencies;
# the heavy export plugins install without them (--no-deps) so they are listed, with the exact
# install command, by `segctl export formats`; `make install-<runtime>` adds a runtime.
PLUGINS := models_yolov8 models_yolo11 models_yolo26 dataset_yolo dataset_coco dataset_shapes tasks_segment trackers loggers export_onnx export_torchscript
HEAVY := $(filter-out $(PLUGINS),$(notdir $(wildcard plugins/*)))
# torch from this machine's local wheel store (CPU use; CUDA build on x86_64); pinned project-wide.
TORCH := torch==2.14.1 torchvision==0.29.1

.PHONY: install install-extras uninstall-extras install-coreml install-node-tfjs demo test test-coreml test-fast bench clean

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
	set -e; for p in $(HEAVY_TESTS); do echo "== $$p"; SEGCTL_TFJS_NODE_MODULES=$(CURDIR)/$(NODE_TFJS)/node_modules $(PYTEST) $$p || [ $$? -eq 5 ]; done  # 5: every test skipped at collection (runtime absent)
	if [ -x $(COREML_VENV)/bin/python ]; then $(MAKE) test-coreml; else echo "== CoreML environment absent (make install-coreml): its suite skipped"; fi

# The CoreML plugin's suite in its own environment (see install-coreml), then the same format driven
# from the main environment through SEGCTL_PYTHON_COREML (export, verification and backend run there).
test-coreml:
	$(COREML_VENV)/bin/python -m pytest -q -p no:cacheprovider plugins/export_coreml
	SEGCTL_PYTHON_COREML=$(CURDIR)/$(COREML_VENV)/bin/python $(PYTEST) plugins/export_coreml/tests/test_coreml_environment.py

bench:
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(COREML_VENV) $(NODE_TFJS) runs demo

# Runtimes of the heavy plugins (the export formats; Ray Data for the ray runner), pinned to versions
# that install together with torch 2.14.1, onnx 1.23.2 and numpy 2.4 on Python 3.11 (see
# docs/export-formats.md, docs/export-tensorflow.md, docs/scale-out.md).
# TF.js needs nothing more than TensorFlow (segctl writes the graph-model format itself).
# coremltools==9.0 is left out: importing it where TensorFlow 2.21 is installed segfaults and it wants
# numpy<=2.3.5, so CoreML gets an environment of its own (install-coreml below).
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

# TensorFlow.js from npm (pure JavaScript, no native binary), to run exported web models in TF.js itself.
NODE_TFJS ?= .node-tfjs
install-node-tfjs:
	npm install --silent --no-audit --no-fund --prefix $(NODE_TFJS) @tensorflow/tfjs@4.22.0

# CoreML: a format environment (docs/export-formats.md): segctl core, the default plugins and the CoreML
# plugin with coremltools==9.0 and numpy<=2.3.5, no TensorFlow. Run from the main environment with
# SEGCTL_PYTHON_COREML=$(COREML_VENV)/bin/python (or formats.yaml), which `make test` does.
COREML_VENV ?= .venv-coreml
COREML_RUNTIME := coremltools==9.0 "numpy<=2.3.5" "pytest>=8"

$(COREML_VENV)/bin/python:
	$(PY) -m venv $(COREML_VENV)

# torch 2.14.1 here is the CUDA build (torch + triton + nvidia-* = 5.3 GB): where the main venv has it,
# its installed files are hard-linked in instead of installed a second time (scripts/link_packages.py).
SHARED_TORCH := torch torchvision triton 'nvidia-*' 'cuda-*'

install-coreml: $(COREML_VENV)/bin/python
	if [ -x $(BIN)/python ]; then $(PY) scripts/link_packages.py $(VENV) $(COREML_VENV) $(SHARED_TORCH); fi
	$(COREML_VENV)/bin/pip install -q $(TORCH)
	$(COREML_VENV)/bin/pip install -q -e ./core $(foreach p,$(PLUGINS),-e ./plugins/$(p)) -e ./plugins/export_coreml \
		$(COREML_RUNTIME) $(TORCH)
