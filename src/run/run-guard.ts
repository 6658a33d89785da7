// What `train` may do with a run folder before it writes anything: a fresh run never replaces a
// run silently (--resume continues it, --overwrite clears it), --resume needs a checkpoint and an
// unfinished run. The folder's lock (run-lock.ts) is taken before these checks.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../util/errors.js';
import { CHECKPOINT_FILE } from './checkpoint.js';
import { CONFIG_FILE } from './run-config.js';
import { METRICS_FILE } from './run-folder.js';
import { LOCK_FILE } from './run-lock.js';
import { readRunRecord, RUN_FILE } from './run-record.js';
import type { CheckpointPayload } from './checkpoint-payload.js';

/** Files that make a folder a run folder (result.json: a compare grid's finished run). */
export const RUN_FOLDER_FILES = [CONFIG_FILE, CHECKPOINT_FILE, METRICS_FILE, RUN_FILE, 'result.json'] as const;

function presentRunFiles(dir: string): string[] {
  return RUN_FOLDER_FILES.filter((f) => existsSync(join(dir, f)));
}

/**
 * Before a fresh run in `dir`: refuses a folder that holds a run, unless `overwrite` (then its whole
 * content goes, exports included, the lock aside). A folder holding only the config.json that
 * `--config` names is a prepared run (compare and the queue worker start runs that way).
 * `overwrite` of a non-empty folder that is no run folder is refused: it could be anything.
 */
export function prepareFreshRunFolder(dir: string, options: { overwrite?: boolean; configFile?: string }): void {
  const found = presentRunFiles(dir);
  const prepared = found.length === 1 && found[0] === CONFIG_FILE && options.configFile !== undefined && resolve(options.configFile) === resolve(dir, CONFIG_FILE);
  if (found.length === 0 || prepared) {
    if (options.overwrite && !prepared) {
      const others = readdirSync(dir).filter((n) => n !== LOCK_FILE);
      if (others.length > 0) throw new UsageError(`--overwrite: ${dir} is not a run folder (no ${RUN_FOLDER_FILES.slice(0, 4).join(', ')}) but holds ${others.slice(0, 3).join(', ')}${others.length > 3 ? ', …' : ''}; it is left as it is: choose another --out`);
    }
    return;
  }
  if (!options.overwrite) {
    const record = readRunRecord(dir);
    const state = record ? `; its run.json says ${record.status}${record.epochsDone !== undefined ? ` after ${record.epochsDone} epochs` : ''}` : '';
    throw new UsageError(
      `${dir} already holds a run (${found.join(', ')}${state}); continue it with --resume ${dir}, ` +
        `replace it with --overwrite (deletes everything in the folder), or choose another --out`,
    );
  }
  for (const name of readdirSync(dir)) if (name !== LOCK_FILE) rmSync(join(dir, name), { recursive: true, force: true });
}

/** `--resume DIR` needs a folder with a checkpoint; anything else is refused with what to do. */
export function checkResumableFolder(dir: string): void {
  if (!existsSync(dir)) throw new UsageError(`--resume ${dir}: no such folder`);
  if (!existsSync(join(dir, CHECKPOINT_FILE))) {
    throw new UsageError(
      `--resume ${dir}: the folder has no ${CHECKPOINT_FILE} (the run stopped before its first checkpoint, or it is not a run folder); ` +
        `start it again with --out ${dir} --overwrite`,
    );
  }
}

/** A checkpoint that has completed all its epochs (with `epochs` the --epochs override, if any). */
export function isFinished(payload: Pick<CheckpointPayload, 'epochsDone' | 'position' | 'config'>, epochs?: number): boolean {
  const target = epochs ?? (payload.config as { epochs: number }).epochs;
  return payload.epochsDone >= target && !payload.position?.batch;
}
