// Quietness is measured, not assumed: /proc/stat's busy CPU time around a child, less what the
// child itself used (it reports its own user + system seconds) and what this driver used, is
// the CPU time other processes took from the machine while the child ran.
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Ticks per second of /proc/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;
/** Rows whose other processes used more than this share of all cores' time are "under load". */
export const LOAD_THRESHOLD = 0.05;

export interface CpuMark {
  /** Busy seconds of all CPUs since boot, or null without /proc/stat. */
  busy: number | null;
  /** This driver's own CPU seconds. */
  self: number;
  wall: number;
}

/** Busy (non-idle, non-iowait) seconds summed over all CPUs, from the first line of /proc/stat. */
function busySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (user! + nice! + system! + irq! + softirq! + steal!) / USER_HZ;
  } catch {
    return null;
  }
}

export function cpuMark(): CpuMark {
  const u = process.cpuUsage();
  return { busy: busySeconds(), self: (u.user + u.system) / 1e6, wall: performance.now() / 1000 };
}

export interface Interference {
  /** CPU seconds other processes used while the child ran (null without /proc/stat). */
  otherCpuSeconds: number | null;
  /** That as a share of all cores' time over the child's wall time. */
  share: number | null;
  underLoad: boolean;
}

/** What other processes used between `before` and now, given the child's own CPU seconds. */
export function interference(before: CpuMark, childCpuSeconds: number): Interference {
  const after = cpuMark();
  if (before.busy === null || after.busy === null) return { otherCpuSeconds: null, share: null, underLoad: false };
  const other = Math.max(0, after.busy - before.busy - childCpuSeconds - (after.self - before.self));
  const share = other / (Math.max(1e-3, after.wall - before.wall) * os.cpus().length);
  return { otherCpuSeconds: other, share, underLoad: share > LOAD_THRESHOLD };
}
