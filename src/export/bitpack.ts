// Bit packing of quantization codes. Browser-safe: no Node imports.

/** Bytes needed for `count` codes of `bits` bits each. */
export function packedByteLength(count: number, bits: number): number {
  return Math.ceil((count * bits) / 8);
}

/**
 * Packs codes (each < 2^bits) into a little-endian bit stream: code i occupies bits
 * [i·bits, (i+1)·bits) counted from the least significant bit of byte 0.
 */
export function packBits(codes: Uint8Array, bits: number): Uint8Array {
  checkBits(bits);
  const out = new Uint8Array(packedByteLength(codes.length, bits));
  const limit = 1 << bits;
  let acc = 0;
  let filled = 0;
  let pos = 0;
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (code >= limit) throw new RangeError(`code ${code} at index ${i} does not fit in ${bits} bits`);
    acc |= code << filled;
    filled += bits;
    while (filled >= 8) {
      out[pos++] = acc & 0xff;
      acc >>>= 8;
      filled -= 8;
    }
  }
  if (filled > 0) out[pos] = acc & 0xff;
  return out;
}

/** Inverse of packBits: the first `count` codes of the stream. */
export function unpackBits(bytes: Uint8Array, bits: number, count: number): Uint8Array {
  checkBits(bits);
  if (bytes.length < packedByteLength(count, bits)) {
    throw new RangeError(`${count} codes of ${bits} bits need ${packedByteLength(count, bits)} bytes, got ${bytes.length}`);
  }
  const out = new Uint8Array(count);
  const mask = (1 << bits) - 1;
  let acc = 0;
  let filled = 0;
  let pos = 0;
  for (let i = 0; i < count; i++) {
    while (filled < bits) {
      acc |= bytes[pos++]! << filled;
      filled += 8;
    }
    out[i] = acc & mask;
    acc >>>= bits;
    filled -= bits;
  }
  return out;
}

function checkBits(bits: number): void {
  if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw new RangeError(`bit width must be an integer in 1..8, got ${bits}`);
}
