#!/usr/bin/env bash
# The README's main job on the embedded default: the plugins, a model, the built-in dataset.
set -euo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/segctl
$S version
$S plugins
$S export formats
$S segment info model=yolov8n-seg.yaml
