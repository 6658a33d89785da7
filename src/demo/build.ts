// `metaquant demo`: packs a checkpoint and puts the static page around it. The page (demo/) is
// bundled by Vite once, when the package is built (`npm run build:demo`, run by `prepare`), into
// dist/demo/, which the package ships: at run time the assets are copied and the model dropped
// next to them, so no bundler is needed. From a checkout without dist/demo/ Vite builds them.
import { cpSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../run/checkpoint-payload.js';
import { loadDataset } from '../data/index.js';
import { checkpointNormalization, deployModel } from '../export/deploy.js';
import { encodePacked } from '../export/packed-format.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';

/** The page's sources (index.html, main.ts), next to src/ in the repository. */
export const DEMO_SOURCE_DIR = fileURLToPath(new URL('../../../demo/', import.meta.url));
/** The page's bundled assets, as the package ships them (dist/demo/). */
export const PREBUILT_DEMO_DIR = fileURLToPath(new URL('../../demo/', import.meta.url));

/** The repository's sources (absent from an installed package): the page bundles code from src/. */
const SOURCE_DIR = fileURLToPath(new URL('../../../src/', import.meta.url));

/**
 * Whether dist/demo/ can be used: it exists and, in a checkout, no source of the page (demo/, src/)
 * is newer (e.g. a packed-format change after the last `npm run build:demo`). Stale assets are
 * rebuilt with Vite where it is installed, else used with a warning.
 */
async function prebuiltIsCurrent(): Promise<boolean> {
  const index = join(PREBUILT_DEMO_DIR, 'index.html');
  if (!existsSync(index)) return false;
  const built = statSync(index).mtimeMs;
  const newer = [DEMO_SOURCE_DIR, SOURCE_DIR]
    .filter((dir) => existsSync(dir))
    .flatMap((dir) => readdirSync(dir, { recursive: true }).map((f) => join(dir, String(f))))
    .find((f) => f.endsWith('.ts') && statSync(f).mtimeMs > built);
  if (newer === undefined) return true;
  if (!(await viteInstalled())) {
    process.emitWarning(`the prebuilt demo page ${PREBUILT_DEMO_DIR} is older than ${newer}; using it anyway (npm run build:demo rebuilds it)`);
    return true;
  }
  return false;
}

async function viteInstalled(): Promise<boolean> {
  try {
    await import('vite');
    return true;
  } catch {
    return false;
  }
}

/** Bundles the page (demo/) with Vite into outDir: what `npm run build:demo` runs at build time. */
export async function buildDemoAssets(outDir: string): Promise<void> {
  if (!existsSync(join(DEMO_SOURCE_DIR, 'index.html'))) throw new UsageError(`the demo page is not built (no ${join(PREBUILT_DEMO_DIR, 'index.html')}) and its sources are missing (${DEMO_SOURCE_DIR}); reinstall metaquant`);
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new UsageError(`the demo page is not built (no ${join(PREBUILT_DEMO_DIR, 'index.html')}) and building it needs the development dependency vite: run npm run build:demo in the checkout`);
  }
  await vite.build({
    root: DEMO_SOURCE_DIR,
    base: './',
    configFile: false,
    logLevel: 'warn',
    // Absolute: Vite resolves a relative outDir against root (demo/), not the working folder.
    build: { outDir: resolve(outDir), emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 },
  });
}

export interface DemoBuildOptions {
  checkpoint: string;
  outDir: string;
  /** Test images shown on the page (default 12). */
  samples?: number;
}

export interface DemoBuildResult {
  outDir: string;
  modelBytes: number;
  samples: number;
  /** Why there are no sample images, when the run's data set could not be loaded. */
  samplesSkipped?: string;
}

/**
 * Writes outDir/index.html + bundled assets (Vite), outDir/model.mqp (the packed checkpoint)
 * and outDir/samples.json (the first test images of the run's data set as raw 0–255 pixels).
 */
export async function buildDemo(opts: DemoBuildOptions): Promise<DemoBuildResult> {
  const outDir = resolve(opts.outDir); // relative to the working folder, as every other path
  const { model, payload } = loadModel(opts.checkpoint);
  let packed: Uint8Array;
  try {
    packed = encodePacked(deployModel(model, await checkpointNormalization(payload, opts.checkpoint)));
  } finally {
    model.dispose();
  }
  if (await prebuiltIsCurrent()) cpSync(PREBUILT_DEMO_DIR, outDir, { recursive: true });
  else await buildDemoAssets(outDir);
  writeFileAtomic(join(outDir, 'model.mqp'), packed);
  const count = opts.samples ?? 12;
  let samplesSkipped: string | undefined;
  let samples = 0;
  try {
    const ds = await loadDataset({ dataset: payload.config.dataset, dataDir: payload.config.dataDir, trainLimit: payload.config.trainLimit, testLimit: count });
    const pixelsPerImage = ds.height * ds.width * ds.channels;
    const images = Array.from({ length: ds.test.count }, (_, i) => Array.from(ds.test.images.subarray(i * pixelsPerImage, (i + 1) * pixelsPerImage), (v) => Math.round(v * 255)));
    writeFileAtomic(join(outDir, 'samples.json'), JSON.stringify({ labels: Array.from(ds.test.labels), pixels: images }));
    samples = images.length;
  } catch (err) {
    samplesSkipped = `the run's data set could not be loaded: ${(err as Error).message}`;
  }
  return { outDir, modelBytes: packed.length, samples, ...(samplesSkipped && { samplesSkipped }) };
}
