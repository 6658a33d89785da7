export { EXPORT_FORMATS, EXPORT_FORMAT_NAMES, outputBytes, type ExportFormat } from './formats.js';
export { exportTfjs, saveTfjsModel, type TfjsExportResult } from './tfjs.js';
export { exportPacked, loadPackedModelFile, readPackedFile, type PackedExportResult } from './packed.js';
export { deployModel, loadDeployment, checkpointNormalization, type Deployment } from './deploy.js';
export {
  encodePacked,
  decodePacked,
  loadPackedModel,
  float32Bytes,
  PACKED_MAGIC,
  PACKED_VERSION,
  PACKED_VERSIONS,
  PACKED_VERSION_ACTIVATIONS,
  packedVersionFor,
  PACKED_EXTENSION,
  type PackedHeader,
  type PackedTensor,
  type DecodedPacked,
  type DecodeOptions,
  type PackedVersionFeatures,
} from './packed-format.js';
export { registerActQuantLayer, ACT_QUANT_CLASS, type ActQuantLayerArgs } from './tfjs-act-layer.js';
export { buildLayersModel, kerasName, type DeployedNetwork, type Normalization, type NamedTensor } from './layers-model.js';
export { PIXEL_SCALE } from './normalisation.js';
export { packBits, unpackBits, packedByteLength } from './bitpack.js';
export { decodeQuantized } from './encoding.js';
