// A reusable fuzz harness for file readers. From one valid file it generates hundreds of
// corrupt variants (truncations at every section boundary and at random points, bit flips,
// huge or zero size fields, random bytes, caller-supplied header mutations) and feeds each to
// a reader, asserting that the reader either parses it or rejects it with one of our errors,
// within a time bound and a memory bound. Run in a worker thread (pass the reader as a module
// export), a hang is cut off by the watchdog and a runaway heap by the worker's resource limits.
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { Rng } from '../../src/util/rng.js';

/** An integer field of the format that declares a size (or a type/version code). */
export interface SizeField {
  name: string;
  offset: number;
  bytes: 1 | 2 | 4;
  littleEndian?: boolean;
}

export interface FuzzOptions {
  /** Offsets where sections of the format start or end (each is a truncation point, ±1 too). */
  boundaries?: number[];
  /** Fields to overwrite with 0, 1, max, off-by-one and doubled values. */
  sizeFields?: SizeField[];
  /** Format-aware variants the caller builds (e.g. edited JSON header fields). */
  mutations?: { name: string; bytes: Uint8Array }[];
  /** At least this many variants (random bit flips fill up); default 200. */
  count?: number;
  seed?: string;
  /** Per-input time bound in ms; default 2000. */
  timeoutMs?: number;
  /** Per-input bound on memory growth (heap + array buffers) in bytes; default 64 MiB. */
  maxMemoryBytes?: number;
  /** Error class names that count as a clean rejection; default ['InputFileError']. */
  expectedErrors?: string[];
  /** Worker mode: the JS heap limit of the worker in MiB; default 512. */
  heapLimitMb?: number;
}

export interface FuzzVariant {
  kind: string;
  name: string;
  bytes: Uint8Array;
}

export interface FuzzFailure {
  name: string;
  problem: string;
}

export interface FuzzReport {
  total: number;
  /** Rejected with an expected error. */
  rejected: number;
  /** Parsed without error (e.g. a flipped bit inside pixel data). */
  accepted: number;
  /** Kind and name of every accepted variant (a caller checks that no corrupt mutation is among them). */
  acceptedVariants: { kind: string; name: string }[];
  failures: FuzzFailure[];
  /** Variants per kind (truncate, flip, size-field, random, mutation, …). */
  kinds: Record<string, number>;
  slowestMs: number;
  largestMemoryBytes: number;
}

/** A reader the worker imports: `module` is a file path or URL, `export` the function's name. */
export interface WorkerReader {
  module: string;
  export: string;
}

export type Reader = ((bytes: Uint8Array) => unknown) | WorkerReader;

function writeUint(out: Uint8Array, f: SizeField, value: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (f.offset + f.bytes > out.length) return;
  if (f.bytes === 1) view.setUint8(f.offset, value & 0xff);
  else if (f.bytes === 2) view.setUint16(f.offset, value & 0xffff, f.littleEndian);
  else view.setUint32(f.offset, value >>> 0, f.littleEndian);
}

function readUint(bytes: Uint8Array, f: SizeField): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (f.offset + f.bytes > bytes.length) return 0;
  return f.bytes === 1 ? view.getUint8(f.offset) : f.bytes === 2 ? view.getUint16(f.offset, f.littleEndian) : view.getUint32(f.offset, f.littleEndian);
}

/** The corrupt variants of `valid`, deterministic for a given seed. */
export function fuzzVariants(valid: Uint8Array, options: FuzzOptions = {}): FuzzVariant[] {
  const rng = new Rng(options.seed ?? 'fuzz');
  const n = valid.length;
  const out: FuzzVariant[] = [];
  const add = (kind: string, name: string, bytes: Uint8Array) => out.push({ kind, name, bytes });
  const copy = () => Uint8Array.from(valid);

  // Truncation: every boundary (±1), the empty file, and random cut points.
  const cuts = new Set<number>([0, 1, n - 1]);
  for (const b of options.boundaries ?? []) for (const c of [b - 1, b, b + 1]) if (c >= 0 && c < n) cuts.add(c);
  for (let i = 0; i < 24; i++) cuts.add(rng.int(n));
  for (const c of [...cuts].sort((a, b) => a - b)) add('truncate', `truncated to ${c} of ${n} bytes`, valid.slice(0, c));
  // Trailing garbage.
  for (const extra of [1, 3, 4096]) {
    const b = new Uint8Array(n + extra);
    b.set(valid);
    for (let i = n; i < b.length; i++) b[i] = rng.int(256);
    add('extend', `${extra} extra bytes`, b);
  }
  // Size fields: zero, one, huge, sign bit, off by one, doubled.
  for (const f of options.sizeFields ?? []) {
    const v = readUint(valid, f);
    const max = f.bytes === 4 ? 0xffffffff : f.bytes === 2 ? 0xffff : 0xff;
    for (const [label, value] of [['0', 0], ['1', 1], ['max', max], ['max/2+1', Math.floor(max / 2) + 1], ['+1', v + 1], ['-1', v - 1], ['×2', v * 2], ['×1000', v * 1000]] as const) {
      const b = copy();
      writeUint(b, f, value);
      add('size-field', `${f.name} := ${label}`, b);
    }
  }
  // Random bytes: same length, short, long, and a valid first section followed by noise.
  const headerEnd = Math.min(n, Math.max(8, ...(options.boundaries ?? [8]).filter((b) => b < n).slice(0, 2)));
  for (let i = 0; i < 6; i++) {
    const len = [n, 3, 17, 1000, n * 2, 64][i]!;
    add('random', `${len} random bytes`, Uint8Array.from({ length: len }, () => rng.int(256)));
    const b = copy();
    for (let j = headerEnd; j < n; j++) b[j] = rng.int(256);
    add('random', `valid first ${headerEnd} bytes, random rest (${i})`, b);
  }
  for (const m of options.mutations ?? []) add('mutation', m.name, m.bytes);
  // Fill up with bit flips (1-8 bits), half of them in the first section where the fields are.
  const count = Math.max(options.count ?? 200, out.length + 40);
  for (let i = 0; out.length < count; i++) {
    const b = copy();
    const flips = 1 + rng.int(8);
    const where: number[] = [];
    for (let k = 0; k < flips; k++) {
      const pos = i % 2 === 0 ? rng.int(Math.min(n, Math.max(headerEnd * 2, 16))) : rng.int(n);
      b[pos]! ^= 1 << rng.int(8);
      where.push(pos);
    }
    add('flip', `${flips} bit flip(s) at ${where.join(',')}`, b);
  }
  return out;
}

/** One variant through the reader: its outcome, time and memory growth. */
export function tryRead(read: (bytes: Uint8Array) => unknown, bytes: Uint8Array, expectedErrors: string[]): { outcome: 'accepted' | 'rejected' | string; ms: number; memory: number } {
  const mem = () => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const before = mem();
  const t0 = performance.now();
  let outcome: string;
  try {
    read(bytes);
    outcome = 'accepted';
  } catch (err) {
    const name = (err as Error)?.name ?? typeof err;
    outcome = expectedErrors.includes(name) ? 'rejected' : `threw ${name}: ${(err as Error)?.message ?? String(err)}`;
  }
  return { outcome, ms: performance.now() - t0, memory: Math.max(0, mem() - before) };
}

/**
 * Feeds every variant of `valid` to `read` and reports what happened. `read` is a function (run
 * here; a hang blocks the caller) or a module export (run in a worker with a watchdog and a heap
 * limit: the way to use it for readers that might loop or allocate without bound).
 */
export async function fuzz(valid: Uint8Array, read: Reader, options: FuzzOptions = {}): Promise<FuzzReport> {
  const variants = fuzzVariants(valid, options);
  const expected = options.expectedErrors ?? ['InputFileError'];
  const timeoutMs = options.timeoutMs ?? 2000;
  const maxMemory = options.maxMemoryBytes ?? 64 * 2 ** 20;
  const report: FuzzReport = { total: variants.length, rejected: 0, accepted: 0, acceptedVariants: [], failures: [], kinds: {}, slowestMs: 0, largestMemoryBytes: 0 };
  for (const v of variants) report.kinds[v.kind] = (report.kinds[v.kind] ?? 0) + 1;
  const record = (v: FuzzVariant, r: { outcome: string; ms: number; memory: number }) => {
    report.slowestMs = Math.max(report.slowestMs, r.ms);
    report.largestMemoryBytes = Math.max(report.largestMemoryBytes, r.memory);
    if (r.outcome === 'accepted') {
      report.accepted++;
      report.acceptedVariants.push({ kind: v.kind, name: v.name });
    }
    else if (r.outcome === 'rejected') report.rejected++;
    else report.failures.push({ name: v.name, problem: r.outcome });
    if (r.ms > timeoutMs) report.failures.push({ name: v.name, problem: `took ${r.ms.toFixed(0)} ms (bound ${timeoutMs})` });
    if (r.memory > maxMemory) report.failures.push({ name: v.name, problem: `grew memory by ${r.memory} bytes (bound ${maxMemory})` });
  };
  if (typeof read === 'function') {
    for (const v of variants) record(v, tryRead(read, v.bytes, expected));
    return report;
  }
  let next = 0;
  while (next < variants.length) next = await runWorker(read, variants, next, expected, timeoutMs, options.heapLimitMb ?? 512, record, report);
  return report;
}

/** Runs variants from `start` in one worker until done or until one hangs or kills it; returns where to go on. */
function runWorker(
  reader: WorkerReader,
  variants: FuzzVariant[],
  start: number,
  expectedErrors: string[],
  timeoutMs: number,
  heapLimitMb: number,
  record: (v: FuzzVariant, r: { outcome: string; ms: number; memory: number }) => void,
  report: FuzzReport,
): Promise<number> {
  const worker = new Worker(fileURLToPath(new URL('./fuzz-worker.js', import.meta.url)), {
    workerData: { module: reader.module, export: reader.export, expectedErrors },
    resourceLimits: { maxOldGenerationSizeMb: heapLimitMb },
  });
  return new Promise((resolve) => {
    let i = start;
    const finish = (nextIndex: number) => {
      clearTimeout(timer);
      worker.removeAllListeners();
      void worker.terminate();
      resolve(nextIndex);
    };
    // Loading the reader's module may take a while; each input then gets 5 × the per-input bound.
    let timer: NodeJS.Timeout = setTimeout(() => {
      report.failures.push({ name: '(worker start)', problem: `${reader.module} did not load within 60 s` });
      finish(variants.length);
    }, 60_000);
    const send = () => {
      if (i >= variants.length) return finish(i);
      timer = setTimeout(() => {
        report.failures.push({ name: variants[i]!.name, problem: `no answer within ${timeoutMs * 5} ms (hang)` });
        finish(i + 1);
      }, timeoutMs * 5);
      worker.postMessage({ index: i, bytes: variants[i]!.bytes });
    };
    worker.on('message', (m: { ready?: boolean; index: number; outcome: string; ms: number; memory: number }) => {
      clearTimeout(timer);
      if (!m.ready) {
        record(variants[m.index]!, m);
        i = m.index + 1;
      }
      send();
    });
    worker.on('error', (err) => {
      report.failures.push({ name: variants[i]?.name ?? '(worker start)', problem: `worker died: ${err.message}` });
      finish(i + 1);
    });
    worker.on('exit', (code) => {
      if (i < variants.length) {
        report.failures.push({ name: variants[i]!.name, problem: `worker exited with code ${code}` });
        finish(i + 1);
      }
    });
  });
}

/** A readable summary line for test logs and reports. */
export function describeReport(reader: string, r: FuzzReport): string {
  const kinds = Object.entries(r.kinds).map(([k, n]) => `${k} ${n}`).join(', ');
  return `${reader}: ${r.total} variants (${kinds}): ${r.rejected} rejected with our error, ${r.accepted} parsed, ${r.failures.length} failures; slowest ${r.slowestMs.toFixed(1)} ms, largest memory growth ${(r.largestMemoryBytes / 2 ** 20).toFixed(1)} MiB`;
}
