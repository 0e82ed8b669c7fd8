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

.PHONY: install demo test test-all bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ./core $(foreach p,$(PLUGINS),-e ./plugins/$(p)) -e ".[dev]" $(TORCH)
	$(BIN)/pip install -q --no-deps $(foreach p,$(HEAVY),-e ./plugins/$(p))

demo: install
	bash scripts/demo.sh

test:
	$(BIN)/python -m pytest -q -m "not slow" -n 2 --dist loadfile

test-all:
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench:
	for f in benchmarks/*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs demo
