// `--format packed` on Node: writing and reading packed files (the format itself is packed-format.ts).
import { readFileSync, existsSync } from 'node:fs';
import type * as tfjs from '@tensorflow/tfjs';
import { writeFileAtomic } from '../util/atomic-write.js';
import { InputFileError } from '../util/errors.js';
import { loadDeployment } from './deploy.js';
import { decodePacked, encodePacked, float32Bytes, loadPackedModel } from './packed-format.js';

export interface PackedExportResult {
  file: string;
  bytes: number;
  /** The same network's weights at float32. */
  float32Bytes: number;
}

/** `metaquant export --format packed`: checkpoint → one packed file. */
export async function exportPacked(checkpoint: string, outFile: string): Promise<PackedExportResult> {
  const bytes = encodePacked(await loadDeployment(checkpoint));
  writeFileAtomic(outFile, bytes);
  return { file: outFile, bytes: bytes.length, float32Bytes: float32Bytes(decodePacked(bytes, outFile).header) };
}

export function readPackedFile(path: string): Uint8Array {
  if (!existsSync(path)) throw new InputFileError(path, 'no such file (expected a packed model written by `metaquant export --format packed`)');
  return new Uint8Array(readFileSync(path));
}

/** Node convenience: reads and loads a packed file as a tfjs LayersModel; errors name the file. */
export function loadPackedModelFile(path: string): tfjs.LayersModel {
  return loadPackedModel(readPackedFile(path), path);
}
