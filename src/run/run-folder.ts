// The run folder's other files and conventions: where a run goes by default, metrics.jsonl, and
// the temporary files an interrupted atomic write leaves behind.
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import type { EpochMetrics } from './checkpoint-payload.js';

export const METRICS_FILE = 'metrics.jsonl';

export function defaultRunDir(): string {
  return join('runs', new Date().toISOString().replace(/[:.]/g, '-'));
}

export function writeMetrics(runDir: string, history: readonly EpochMetrics[]): void {
  writeFileAtomic(join(runDir, METRICS_FILE), history.map((m) => JSON.stringify(m) + '\n').join(''));
}

/** Temporary files of atomic writes a killed run left behind (the real files are intact). */
export function removeStaleTempFiles(runDir: string): void {
  let names: string[];
  try {
    names = readdirSync(runDir);
  } catch {
    return;
  }
  for (const n of names) if (/^\.(checkpoint\.mqc|metrics\.jsonl|config\.json|run\.json)\..*\.tmp$/.test(n)) rmSync(join(runDir, n), { force: true });
}
