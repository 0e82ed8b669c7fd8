// Run a segctl TF.js graph model in TensorFlow.js on Node (pure-JS CPU backend) for verification.
//
// usage: node run_model.cjs <web_model dir> <input.f32> <b,h,w,c> <out dir>
// Loads model.json + shards through an in-memory IO handler (no tfjs-node native binary needed),
// feeds the little-endian float32 NHWC input and writes every signature output as <key>.f32 plus
// shapes.json. An input batch larger than the model's (fixed) batch runs in chunks. @tensorflow/tfjs is
// resolved through NODE_PATH.
'use strict';
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');

async function main() {
  const [dir, inputPath, shapeArg, outDir] = process.argv.slice(2);
  const spec = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weightSpecs = [];
  const buffers = [];
  for (const group of spec.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(fs.readFileSync(path.join(dir, p)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  const handler = {
    load: async () => ({
      modelTopology: spec.modelTopology, weightSpecs, weightData, format: spec.format,
      generatedBy: spec.generatedBy, convertedBy: spec.convertedBy, signature: spec.signature,
      userDefinedMetadata: spec.userDefinedMetadata,
    }),
  };
  await tf.setBackend('cpu');
  const model = await tf.loadGraphModel(handler);
  const raw = fs.readFileSync(inputPath);
  const shape = shapeArg.split(',').map(Number);
  const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), shape);
  const keys = Object.keys(spec.signature.outputs).sort();
  const names = keys.map((k) => spec.signature.outputs[k].name.replace(/:0$/, ''));
  const input = Object.values(spec.signature.inputs)[0];
  const inputName = input.name.replace(/:0$/, '');
  // the graph's batch is fixed at export: a larger input runs in chunks of that batch
  const dim0 = Number(((input.tensorShape || {}).dim || [{ size: shape[0] }])[0].size);
  const step = dim0 > 0 ? dim0 : shape[0];
  const parts = keys.map(() => []);
  for (let i = 0; i < shape[0]; i += step) {
    const chunk = x.slice([i], [step]);
    let outs = await model.executeAsync({ [inputName]: chunk }, names);
    outs = Array.isArray(outs) ? outs : [outs];
    outs.forEach((t, k) => parts[k].push(t));
    chunk.dispose();
  }
  const shapes = {};
  for (let k = 0; k < keys.length; k++) {
    const out = parts[k].length === 1 ? parts[k][0] : tf.concat(parts[k], 0);
    const data = await out.data();
    fs.writeFileSync(path.join(outDir, keys[k] + '.f32'), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    shapes[keys[k]] = out.shape;
  }
  fs.writeFileSync(path.join(outDir, 'shapes.json'), JSON.stringify({ shapes, tfjs: tf.version.tfjs }));
}

main().catch((e) => { console.error(e && e.stack ? e.stack : e); process.exit(1); });
