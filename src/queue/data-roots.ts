// Which files a job may make a worker read: only those under the worker's data roots
// (`--data-root DIR`, repeatable). Without roots, only the built-in data sets: the bundled MNIST
// digits, synthetic data, and Fashion-MNIST from its Debian package's fixed folder.
import { existsSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { TrainConfig } from '../config/schema.js';
import { RefusedJobError } from './job-payload.js';

function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** A path of the job, resolved under the first root that holds it (symbolic links followed, so none leads out). */
function resolveUnderRoots(what: string, path: string, roots: readonly string[]): string {
  if (path.includes('\0')) throw new RefusedJobError(`${what} contains a NUL byte`);
  if (roots.length === 0) {
    throw new RefusedJobError(`${what} '${path}' names a file path, and this worker reads only the built-in data sets (mnist, fashion-mnist, synthetic); start it with --data-root DIR to allow data under DIR`);
  }
  for (const root of roots) {
    const candidate = resolve(root, path);
    if (!existsSync(candidate)) continue;
    const real = realpathSync(candidate);
    if (inside(real, realpathSync(root))) return real;
  }
  throw new RefusedJobError(`${what} '${path}' is not inside this worker's data roots (${roots.join(', ')}); only data under --data-root folders may be read`);
}

/**
 * The config with every file path (dataDir, init, the folder of dataset idx:DIR) checked and
 * resolved to where the data lies on this worker. Throws RefusedJobError for a path outside
 * the roots.
 */
export function resolveDataPaths(config: TrainConfig, roots: readonly string[]): TrainConfig {
  const out: TrainConfig = { ...config };
  if (config.dataDir !== undefined) out.dataDir = resolveUnderRoots('config.dataDir', config.dataDir, roots);
  if (config.init !== undefined) out.init = resolveUnderRoots('config.init', config.init, roots);
  const spec = config.dataset.trim();
  const colon = spec.indexOf(':');
  if (colon >= 0 && spec.slice(0, colon).toLowerCase() === 'idx') {
    const dir = spec.slice(colon + 1);
    if (dir !== '') out.dataset = `idx:${resolveUnderRoots('config.dataset (idx:DIR)', dir, roots)}`;
  }
  return out;
}
