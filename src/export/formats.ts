// The export formats `metaquant export --format` offers. A format is one entry: a new one plugs in
// by adding a line here.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { exportTfjs } from './tfjs.js';
import { exportPacked } from './packed.js';
import { exportOnnx, ONNX_OPSET } from './onnx.js';

export interface ExportFormat {
  describe: string;
  /** Whether --out names a folder (created) or a single file. */
  output: 'directory' | 'file';
  run(checkpoint: string, out: string, options: ExportRunOptions): Promise<unknown>;
}

export interface ExportRunOptions {
  /** onnx only: quantized kernels as int8 + DequantizeLinear (see ONNX_INT8_CAVEAT). */
  int8?: boolean;
}

/** What a user of `--int8` ONNX files must know (learned in test/export/onnx.test.ts). */
export const ONNX_INT8_CAVEAT =
  "run int8 files with onnxruntime's graphOptimizationLevel 'basic': the 'extended' and 'all' levels (the default) rewrite " +
  'DequantizeLinear + MatMul into MatMulNBits, which also quantizes the activations (predictions about 1% off)';

export const EXPORT_FORMATS: Record<string, ExportFormat> = {
  tfjs: { describe: 'TensorFlow.js LayersModel folder (model.json + shards) holding the quantized weights as float32', output: 'directory', run: exportTfjs },
  onnx: { describe: `ONNX model (opset ${ONNX_OPSET}, standard operators; quantized weights as float initialisers)`, output: 'file', run: (c, o, opts) => exportOnnx(c, o, opts.int8 ? { weights: 'int8' } : {}) },
  packed: { describe: 'one file with each quantized layer at its true bit width (load with loadPackedModel)', output: 'file', run: exportPacked },
};

export const EXPORT_FORMAT_NAMES = (): string[] => Object.keys(EXPORT_FORMATS);

/** Bytes at `path`: a file's size, or the sum over a folder's files (not recursive). */
export function outputBytes(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((n, f) => {
    const s = statSync(join(path, f));
    return n + (s.isFile() ? s.size : 0);
  }, 0);
}
