// One writer per run folder: `run.lock` holds the writer's pid, host name and command line. It is
// created with O_EXCL (atomic on local and NFSv3+ file systems) and removed when the process ends;
// a lock left by a killed process is detected as stale when its pid no longer runs on this host.
//
// Why not proper-lockfile: it tells a stale lock by an mtime that a timer refreshes, and a training
// step is synchronous (seconds for a ResNet with an LSTM meta network), so the timer would miss its
// deadline and the lock be declared compromised mid-run; nor does it record who holds the lock.
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../util/errors.js';

export const LOCK_FILE = 'run.lock';

export interface LockHolder {
  pid: number;
  hostname: string;
  since: string;
  argv: string[];
}

/** Whether a process with this pid runs on this host (EPERM: it runs, as another user). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
    return typeof h.pid === 'number' && typeof h.hostname === 'string' ? h : null;
  } catch {
    return null;
  }
}

export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on ${h.hostname}, since ${h.since}${h.argv?.length ? `: metaquant ${h.argv.join(' ')}` : ''}`;
}

export class RunLock {
  private held = true;
  private readonly onExit = () => this.release();

  constructor(
    readonly dir: string,
    readonly file: string,
  ) {
    process.on('exit', this.onExit);
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    process.off('exit', this.onExit);
    const holder = readHolder(this.file);
    if (holder && holder.pid === process.pid && holder.hostname === hostname()) rmSync(this.file, { force: true });
  }
}

/**
 * Takes the run folder's lock (creating the folder), or throws a UsageError naming the holder.
 * A stale lock (its pid gone, same host) is moved aside and taken over.
 */
export function acquireRunLock(dir: string): RunLock {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, hostname: hostname(), since: new Date().toISOString(), argv: process.argv.slice(2) };
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      try {
        writeSync(fd, JSON.stringify(me) + '\n');
      } finally {
        closeSync(fd);
      }
      return new RunLock(dir, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readHolder(file);
    if (holder === null) {
      // Being written by a concurrent taker, or garbage: not ours to break.
      throw new UsageError(`${dir} is locked by another process (${file} exists but cannot be read); if no metaquant process uses the folder, delete ${file}`);
    }
    const sameHost = holder.hostname === me.hostname;
    if (sameHost && holder.pid !== process.pid && !processAlive(holder.pid)) {
      // Stale: its process is gone. Moved aside (atomic) so that two takers cannot both remove it.
      const aside = `${file}.stale-${process.pid}`;
      try {
        renameSync(file, aside);
        rmSync(aside, { force: true });
      } catch {
        // Another taker moved it first; try again.
      }
      continue;
    }
    throw new UsageError(
      `${dir} is in use by another metaquant process (${describeHolder(holder)}); wait for it to finish or stop it` +
        (sameHost ? '' : `; if that process is gone, delete ${file}`),
    );
  }
  throw new UsageError(`${dir}: could not take its lock ${file} (others keep taking it)`);
}
