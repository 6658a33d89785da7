// `--format tfjs`: a standard TensorFlow.js LayersModel folder (model.json + weight shards).
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tf } from '../engine/tf.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { buildLayersModel, type DeployedNetwork } from './layers-model.js';
import { PIXEL_SCALE } from './normalisation.js';
import { loadDeployment } from './deploy.js';

/** Shard size of tensorflowjs_converter, so tools that expect its layout are not surprised. */
const SHARD_BYTES = 4 * 2 ** 20;
const SHARD_PATTERN = /^group1-shard\d+of\d+\.bin$/;

export interface TfjsExportResult {
  dir: string;
  files: string[];
  /** Bytes of model.json plus every shard. */
  bytes: number;
  weightBytes: number;
}

/**
 * Writes `net` as `dir/model.json` + `dir/group1-shardNofM.bin`. Shards are written first and
 * model.json last, each atomically, so a reader never sees a model.json whose shards are missing;
 * shards of an earlier export that the new model.json does not list are removed afterwards.
 */
export async function saveTfjsModel(net: DeployedNetwork, dir: string, metadata: Record<string, unknown> = {}): Promise<TfjsExportResult> {
  const model = buildLayersModel(net);
  let result: TfjsExportResult | undefined;
  try {
    await model.save(
      tf.io.withSaveHandler(async (artifacts) => {
        const weights = new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData ?? new ArrayBuffer(0)));
        const shardCount = Math.max(1, Math.ceil(weights.length / SHARD_BYTES));
        const paths = Array.from({ length: shardCount }, (_, i) => `group1-shard${i + 1}of${shardCount}.bin`);
        paths.forEach((p, i) => writeFileAtomic(join(dir, p), weights.subarray(i * SHARD_BYTES, (i + 1) * SHARD_BYTES)));
        const modelJson = {
          format: 'layers-model',
          generatedBy: artifacts.generatedBy,
          convertedBy: 'metaquant export',
          modelTopology: artifacts.modelTopology,
          weightsManifest: [{ paths, weights: artifacts.weightSpecs }],
          userDefinedMetadata: {
            metaquant: {
              arch: net.modelConfig.arch,
              quantizer: net.modelConfig.quantizer,
              input: `raw pixels 0-${PIXEL_SCALE}, shape [N, ${net.modelConfig.inputShape.join(', ')}]; the model normalises them`,
              normalization: net.normalization,
              output: 'logits',
              ...metadata,
            },
          },
        };
        const json = JSON.stringify(modelJson);
        writeFileAtomic(join(dir, 'model.json'), json);
        for (const f of readdirSync(dir)) if (SHARD_PATTERN.test(f) && !paths.includes(f)) rmSync(join(dir, f));
        result = { dir, files: ['model.json', ...paths], bytes: Buffer.byteLength(json) + weights.length, weightBytes: weights.length };
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON', weightDataBytes: weights.length } };
      }),
    );
  } finally {
    model.dispose();
  }
  return result!;
}

/** `metaquant export --format tfjs`: checkpoint → LayersModel folder whose kernels hold Ŵ. */
export async function exportTfjs(checkpoint: string, outDir: string): Promise<TfjsExportResult> {
  const deployment = await loadDeployment(checkpoint);
  return saveTfjsModel(deployment, outDir);
}
