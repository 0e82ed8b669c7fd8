// Run a segctl TF.js graph model in TensorFlow.js on Node (pure-JS CPU backend) for verification.
//
// usage: node run_model.cjs <web_model dir> <input.f32> <b,h,w,c> <out dir>
// Loads model.json + shards through an in-memory IO handler (no tfjs-node native binary needed),
// feeds the little-endian float32 NHWC input and writes every signature output as <key>.f32 plus
// shapes.json. @tensorflow/tfjs is resolved through NODE_PATH.
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
  const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), shapeArg.split(',').map(Number));
  const keys = Object.keys(spec.signature.outputs).sort();
  const names = keys.map((k) => spec.signature.outputs[k].name.replace(/:0$/, ''));
  const inputName = Object.values(spec.signature.inputs)[0].name.replace(/:0$/, '');
  let outs = await model.executeAsync({ [inputName]: x }, names);
  outs = Array.isArray(outs) ? outs : [outs];
  const shapes = {};
  for (let i = 0; i < keys.length; i++) {
    const data = await outs[i].data();
    fs.writeFileSync(path.join(outDir, keys[i] + '.f32'), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    shapes[keys[i]] = outs[i].shape;
  }
  fs.writeFileSync(path.join(outDir, 'shapes.json'), JSON.stringify({ shapes, tfjs: tf.version.tfjs }));
}

main().catch((e) => { console.error(e && e.stack ? e.stack : e); process.exit(1); });
