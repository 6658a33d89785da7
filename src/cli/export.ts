import { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { useBackend, BACKENDS, type BackendName } from '../engine/backend.js';
import { EXPORT_FORMATS, ONNX_INT8_CAVEAT, outputBytes } from '../export/formats.js';
import { UsageError } from '../util/errors.js';
import { choiceOption } from './options.js';

export function exportCommand(): Command {
  const formats = Object.keys(EXPORT_FORMATS);
  return new Command('export')
    .description(`export a trained checkpoint for deployment (--format ${formats.join('|')})`)
    .requiredOption('--checkpoint <path>', 'run folder or checkpoint file')
    .addOption(choiceOption('--format <name>', formats.map((f) => `${f}: ${EXPORT_FORMATS[f]!.describe}`).join('; '), formats).makeOptionMandatory())
    .requiredOption('--out <path>', 'output folder (tfjs) or file (onnx, packed)')
    .addOption(choiceOption('--backend <name>', 'TensorFlow.js backend used to quantize', BACKENDS, 'wasm'))
    .option('--int8', 'onnx: store quantized kernels as int8 + DequantizeLinear (about 4x smaller file; see below)', false)
    .option('--json', 'print one JSON object as the last stdout line', false)
    .addHelpText('after', `\n--int8 (onnx): ${ONNX_INT8_CAVEAT}. Kernels whose levels are not int8 multiples of one step (dorefa 8-bit) stay float.`)
    .action(async (o: Record<string, unknown>) => {
      if (o.int8 && o.format !== 'onnx') throw new UsageError(`--int8 applies to --format onnx only, not ${String(o.format)}`);
      await useBackend(o.backend as BackendName);
      const format = EXPORT_FORMATS[o.format as string]!;
      const out = String(o.out);
      if (existsSync(out) && statSync(out).isDirectory() !== (format.output === 'directory')) {
        throw new UsageError(`--out ${out} is ${format.output === 'directory' ? 'a file; --format ' + String(o.format) + ' writes a folder' : 'a folder; --format ' + String(o.format) + ' writes one file'}`);
      }
      await format.run(String(o.checkpoint), out, { int8: Boolean(o.int8) });
      if (o.int8) process.stderr.write(`metaquant export: ${ONNX_INT8_CAVEAT}\n`);
      const bytes = outputBytes(out);
      if (o.json) process.stdout.write(JSON.stringify({ format: o.format, out, bytes }) + '\n');
      else process.stdout.write(`wrote ${o.format} ${format.output === 'directory' ? 'folder' : 'file'} ${out} (${formatBytes(bytes)})\n`);
    });
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 2 ** 20) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 2 ** 20).toFixed(2)} MiB`;
}
