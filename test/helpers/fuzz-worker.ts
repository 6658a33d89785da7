// The worker side of the fuzz harness: imports the reader, then answers one message per variant.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { tryRead } from './fuzz.js';

const { module, export: name, expectedErrors } = workerData as { module: string; export: string; expectedErrors: string[] };
const url = module.startsWith('file:') ? module : pathToFileURL(module).href;
const mod = (await import(url)) as Record<string, unknown>;
const read = mod[name];
if (typeof read !== 'function') throw new Error(`${module} has no function export '${name}'`);
await (mod.ready as Promise<void> | undefined);
parentPort!.postMessage({ ready: true });
parentPort!.on('message', (m: { index: number; bytes: Uint8Array }) => {
  parentPort!.postMessage({ index: m.index, ...tryRead(read as (b: Uint8Array) => unknown, m.bytes, expectedErrors) });
});
