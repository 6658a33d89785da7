// Throughput of a grid on queue workers against local child processes, side by side in one run:
// `compare --jobs 1`, `compare --jobs N` and `compare --queue` with N local workers (one run at a
// time each), on the same grid, with a redis-server started here on a free localhost port. All
// training processes get METAQUANT_THREADS=1, so the configurations differ only in how many runs
// train at once and in who starts them. Prints a table and, last, one JSON line.
//   node dist/bench/queue-scaling.js [--workers 3] [--seeds 1,2,3] [--keep DIR]
// On a machine with fewer cores than workers the queue cannot scale; the table says what it saw.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const WORKERS = Number(arg('workers', '3'));
const GRID = ['--methods', 'ste,metaquant:fcgrad', '--seeds', arg('seeds', '1,2,3'), '--epochs', '2', '--quiet',
  '--dataset', 'mnist', '--train-limit', '4000', '--model', 'mlp', '--hidden', '64', '--batch-size', '64'];
const env = { ...process.env, METAQUANT_THREADS: '1' };

function run(args: string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'ignore', 'inherit'], env });
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve((performance.now() - started) / 1000) : reject(new Error(`metaquant ${args[0]} exited ${code}`)))),
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startRedis(dir: string, port: number): Promise<ChildProcess> {
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    redis.stdout!.on('data', (b: Buffer) => ((out += b.toString()), out.includes('Ready to accept connections') && resolve()));
    redis.on('exit', () => reject(new Error(`redis-server exited:\n${out}`)));
  });
  return redis;
}

const withoutTimes = (dir: string) =>
  JSON.stringify(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')), (k, v) => (/seconds/i.test(k) ? undefined : v));

async function main(): Promise<void> {
  const root = mkdtempSync(join(os.tmpdir(), 'mq-queue-bench-'));
  const load = () => os.loadavg()[0]!.toFixed(1);
  const notes = [`${os.availableParallelism()} cores, load average ${load()} at the start`];
  const port = await freePort();
  const redis = await startRedis(root, port);
  const url = `redis://127.0.0.1:${port}`;
  const times: Record<string, number> = {};
  try {
    times['local --jobs 1'] = await run(['compare', ...GRID, '--jobs', '1', '--out', join(root, 'jobs1')]);
    times[`local --jobs ${WORKERS}`] = await run(['compare', ...GRID, '--jobs', String(WORKERS), '--out', join(root, `jobs${WORKERS}`)]);
    const workers = Array.from({ length: WORKERS }, (_, i) =>
      spawn(process.execPath, [MAIN, 'worker', '--queue', url, '--name', `bench-w${i + 1}`, '--threads', '1', '--work-dir', join(root, `w${i + 1}`)], { stdio: 'ignore', env }),
    );
    try {
      times[`queue, ${WORKERS} workers`] = await run(['compare', '--queue', url, ...GRID, '--out', join(root, 'queue')]);
    } finally {
      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => new Promise((r) => (w.exitCode === null ? w.on('exit', r) : r(null)))));
    }
    const same = withoutTimes(join(root, 'jobs1')) === withoutTimes(join(root, 'queue'));
    notes.push(`load average ${load()} at the end`, `queue summary ${same ? 'equals' : 'DIFFERS FROM'} the local one (timings aside)`);
    const base = times['local --jobs 1']!;
    process.stdout.write('| configuration | wall s | speed-up vs --jobs 1 |\n|---|---:|---:|\n');
    for (const [name, s] of Object.entries(times)) process.stdout.write(`| ${name} | ${s.toFixed(1)} | ${(base / s).toFixed(2)}× |\n`);
    process.stdout.write(`${notes.join('; ')}\n`);
    process.stdout.write(JSON.stringify({ workers: WORKERS, cores: os.availableParallelism(), seconds: times, summariesEqual: same }) + '\n');
  } finally {
    redis.kill('SIGTERM');
    if (!process.argv.includes('--keep')) rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`queue-scaling: ${(err as Error).message}\n`);
  process.exit(1);
});
