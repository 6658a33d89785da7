// The fuzz harness must catch what it is for: wrong error types, hangs and runaway memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { fuzz, fuzzVariants } from '../helpers/fuzz.js';
import { InputFileError } from '../../src/util/errors.js';

const BAD = fileURLToPath(new URL('../helpers/fuzz-bad-readers.js', import.meta.url));
const valid = Uint8Array.from({ length: 64 }, (_, i) => i);

test('variants: ≥ 200, deterministic, every boundary truncated, size fields set to huge values', () => {
  const opts = { boundaries: [4, 8], sizeFields: [{ name: 'n', offset: 4, bytes: 4 as const }] };
  const a = fuzzVariants(valid, opts);
  assert.ok(a.length >= 200);
  assert.deepEqual(a.map((v) => v.name), fuzzVariants(valid, opts).map((v) => v.name));
  for (const cut of [3, 4, 5, 7, 8, 9]) assert.ok(a.some((v) => v.name === `truncated to ${cut} of 64 bytes` && v.bytes.length === cut));
  const huge = a.find((v) => v.name === 'n := max')!;
  assert.equal(new DataView(huge.bytes.buffer).getUint32(4), 0xffffffff);
});

test('a reader throwing a plain TypeError is reported; InputFileError is a clean rejection', async () => {
  const r = await fuzz(valid, (b) => {
    if (b.length === 64) throw new InputFileError('x', 'bad');
    return (undefined as unknown as { x: number }).x;
  });
  assert.ok(r.failures.length > 0 && r.failures.every((f) => /threw TypeError/.test(f.problem)));
  assert.ok(r.rejected > 0);
});

test('worker mode: a hang is cut off by the watchdog and the run goes on; a 128 MiB allocation is caught', async () => {
  const hang = await fuzz(valid, { module: BAD, export: 'hangsOnShortInput' }, { timeoutMs: 100, count: 60, boundaries: [5] });
  const hangs = hang.failures.filter((f) => /hang/.test(f.problem));
  assert.ok(hangs.length >= 1, 'the hang was detected');
  assert.ok(hang.rejected > 30, 'later variants still ran in a fresh worker');
  const mem = await fuzz(valid, { module: BAD, export: 'trustsDeclaredSize' }, { count: 60, sizeFields: [{ name: 'size', offset: 0, bytes: 1 }] });
  assert.ok(mem.failures.some((f) => /grew memory/.test(f.problem)), JSON.stringify(mem.failures.slice(0, 3)));
});
