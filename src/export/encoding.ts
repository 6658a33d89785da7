// Ŵ from its deployable encoding. Browser-safe: no Node or tfjs imports.
import type { QuantizedEncoding } from '../quantizers/types.js';

/**
 * Ŵ[i] = scales[i mod scales.length] · levels[codes[i]] in float32, exactly the value the
 * quantizers compute in their forward (one IEEE float32 product; the float64 product of two
 * float32 values is exact, so storing it rounds once).
 */
export function decodeQuantized(enc: Pick<QuantizedEncoding, 'codes' | 'levels' | 'scales'>): Float32Array {
  const { codes, levels, scales } = enc;
  const out = new Float32Array(codes.length);
  const channels = scales.length;
  for (let i = 0; i < codes.length; i++) {
    const level = levels[codes[i]!];
    if (level === undefined) throw new RangeError(`code ${codes[i]} at index ${i} has no level (the code book has ${levels.length})`);
    out[i] = scales[i % channels]! * level;
  }
  return out;
}
