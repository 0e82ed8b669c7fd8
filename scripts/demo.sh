#!/usr/bin/env bash
# The README's main job on the embedded default (no downloads): make the built-in shapes dataset,
# check it, train yolov8n-seg from scratch on the CPU, validate, predict, export to ONNX, then
# predict/validate on the ONNX artifact and benchmark the installed export formats.
# EPOCHS (default 30) and IMGSZ (default 320) can be set in the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
S=.venv/bin/segctl
D=demo
EPOCHS=${EPOCHS:-30}
IMGSZ=${IMGSZ:-320}
R="project=$D/runs exist_ok=true"

$S version
$S plugins
$S export formats
$S data demo $D/shapes --train 128 --val 32 --imgsz 320
$S data check data=$D/shapes/data.yaml
$S segment info model=yolov8n-seg.yaml imgsz=$IMGSZ
# only the keys a user types: the defaults pick batch 4 and AdamW for a set this small (docs/training.md)
$S segment train data=$D/shapes/data.yaml model=yolov8n-seg.yaml epochs=$EPOCHS imgsz=$IMGSZ $R name=train
W=$D/runs/train/weights/best.pt
$S segment val model=$W data=$D/shapes/data.yaml imgsz=$IMGSZ $R name=val
$S segment predict model=$W source=$D/shapes/images/val imgsz=$IMGSZ $R name=predict
$S export model=$W format=onnx imgsz=$IMGSZ dynamic=true
$S segment predict model=$D/runs/train/weights/best.onnx source=$D/shapes/images/val imgsz=$IMGSZ $R name=predict_onnx
$S segment val model=$D/runs/train/weights/best.onnx data=$D/shapes/data.yaml imgsz=$IMGSZ $R name=val_onnx
$S benchmark model=$W data=$D/shapes/data.yaml imgsz=$IMGSZ
echo "demo finished: see $D/runs/ (results.png, val plots, predictions)"
