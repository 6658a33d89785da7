// `metaquant demo`: packs a checkpoint and builds the static page in demo/ with Vite around it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadModel } from '../run/checkpoint-payload.js';
import { loadDataset } from '../data/index.js';
import { checkpointNormalization, deployModel } from '../export/deploy.js';
import { encodePacked } from '../export/packed-format.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { UsageError } from '../util/errors.js';

/** The page's sources (index.html, main.ts), next to src/ in the repository. */
export const DEMO_SOURCE_DIR = fileURLToPath(new URL('../../../demo/', import.meta.url));

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
  if (!existsSync(join(DEMO_SOURCE_DIR, 'index.html'))) throw new UsageError(`the demo page sources are missing (${DEMO_SOURCE_DIR}); run from a metaquant checkout`);
  const { model, payload } = loadModel(opts.checkpoint);
  let packed: Uint8Array;
  try {
    packed = encodePacked(deployModel(model, await checkpointNormalization(payload, opts.checkpoint)));
  } finally {
    model.dispose();
  }
  let vite: typeof import('vite');
  try {
    vite = await import('vite');
  } catch {
    throw new UsageError('building the demo needs the development dependency vite (npm install --include=dev)');
  }
  await vite.build({
    root: DEMO_SOURCE_DIR,
    base: './',
    configFile: false,
    logLevel: 'warn',
    build: { outDir: opts.outDir, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 8192 },
  });
  writeFileAtomic(join(opts.outDir, 'model.mqp'), packed);
  const count = opts.samples ?? 12;
  let samplesSkipped: string | undefined;
  let samples = 0;
  try {
    const ds = await loadDataset({ dataset: payload.config.dataset, dataDir: payload.config.dataDir, trainLimit: payload.config.trainLimit, testLimit: count });
    const pixelsPerImage = ds.height * ds.width * ds.channels;
    const images = Array.from({ length: ds.test.count }, (_, i) => Array.from(ds.test.images.subarray(i * pixelsPerImage, (i + 1) * pixelsPerImage), (v) => Math.round(v * 255)));
    writeFileAtomic(join(opts.outDir, 'samples.json'), JSON.stringify({ labels: Array.from(ds.test.labels), pixels: images }));
    samples = images.length;
  } catch (err) {
    samplesSkipped = `the run's data set could not be loaded: ${(err as Error).message}`;
  }
  return { outDir: opts.outDir, modelBytes: packed.length, samples, ...(samplesSkipped && { samplesSkipped }) };
}
