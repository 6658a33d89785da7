// Deliberately broken readers: the fuzz harness's own tests check that it catches each failure.
import { InputFileError } from '../../src/util/errors.js';

/** Loops forever on 5-byte inputs, rejects the rest properly. */
export function hangsOnShortInput(bytes: Uint8Array): void {
  if (bytes.length === 5) for (;;);
  throw new InputFileError('bad', 'rejected');
}

/** Trusts a declared size: allocates 128 MiB when the first byte is 0xff. */
export function trustsDeclaredSize(bytes: Uint8Array): Float32Array {
  if (bytes[0] === 0xff) return new Float32Array(32 * 2 ** 20);
  throw new InputFileError('bad', 'rejected');
}
