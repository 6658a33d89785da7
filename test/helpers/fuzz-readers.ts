// The readers the fuzz tests run in a worker (see fuzz.ts): each takes a file's bytes and
// throws InputFileError for anything it cannot use. Other readers (packed models, compare
// configs) plug in by exporting a function like these from any module.
import { useBackend } from '../../src/engine/backend.js';
import { decodeIdxBytes } from '../../src/data/idx.js';
import { CIFAR10_FORMAT, CIFAR100_FORMAT, decodeCifarBytes, recordCountOf, type CifarFormat } from '../../src/data/cifar.js';
import { decodeCheckpoint } from '../../src/run/checkpoint.js';
import { validatePayload } from '../../src/run/checkpoint-payload.js';
import { restoreTraining } from '../../src/train/factory.js';
import { parseRunConfig } from '../../src/run/run-config.js';

/** The worker awaits this before the first input (the checkpoint reader builds models). */
export const ready = useBackend('cpu');

export const idxImages = (bytes: Uint8Array) => decodeIdxBytes(bytes, 'fuzz/train-images-idx3-ubyte', 'images');
export const idxLabels = (bytes: Uint8Array) => decodeIdxBytes(bytes, 'fuzz/train-labels-idx1-ubyte', 'labels');

function cifar(format: CifarFormat, bytes: Uint8Array): void {
  const file = `fuzz/${format.trainFiles[0]}`;
  const count = recordCountOf(bytes.length, file, format);
  const split = { images: new Float32Array(count * 3072), labels: new Int32Array(count), count };
  decodeCifarBytes(bytes, file, format, split, 0, count);
}
export const cifar10 = (bytes: Uint8Array) => cifar(CIFAR10_FORMAT, bytes);
export const cifar100 = (bytes: Uint8Array) => cifar(CIFAR100_FORMAT, bytes);

/** What `metaquant train --resume` does with a checkpoint, short of loading the data set. */
export function checkpoint(bytes: Uint8Array): void {
  const file = 'fuzz/checkpoint.mqc';
  const payload = validatePayload(decodeCheckpoint(bytes, file), file);
  const { model, step } = restoreTraining(payload, file);
  step.dispose();
  model.dispose();
}

export const runConfig = (bytes: Uint8Array) => parseRunConfig(Buffer.from(bytes).toString('utf8'), 'fuzz/config.json');
