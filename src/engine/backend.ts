import { createRequire } from 'node:module';
import { tf } from './tf.js';
import { UsageError, unknownChoice } from '../util/errors.js';
import { registerWasmTrainingKernels } from './wasm-kernels.js';

export const BACKENDS = ['wasm', 'cpu', 'tensorflow'] as const;
export type BackendName = (typeof BACKENDS)[number];

let active: BackendName | undefined;

/**
 * Selects and initialises a TensorFlow.js backend. `wasm` (default) gets our training kernels;
 * `tensorflow` is `@tensorflow/tfjs-node`, an optional dependency the user installs.
 */
export async function useBackend(name: BackendName = 'wasm'): Promise<void> {
  if (!BACKENDS.includes(name)) throw unknownChoice('backend', name, BACKENDS);
  if (active === name && tf.getBackend() === name) return;
  if (name === 'tensorflow') {
    const require = createRequire(import.meta.url);
    try {
      require('@tensorflow/tfjs-node');
    } catch (err) {
      throw new UsageError(
        "backend 'tensorflow' needs the optional package @tensorflow/tfjs-node " +
          `(npm install @tensorflow/tfjs-node); it could not be loaded: ${(err as Error).message.split('\n')[0]}`,
      );
    }
  }
  if (name === 'wasm') registerWasmTrainingKernels();
  const ok = await tf.setBackend(name);
  if (!ok) throw new UsageError(`backend '${name}' failed to initialise`);
  await tf.ready();
  active = name;
}

export function activeBackend(): string {
  return tf.getBackend();
}
