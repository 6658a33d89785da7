// What coordinator and worker compare before they trust each other's jobs: the metaquant package
// version and a fingerprint of the training-config schema (fields, types, ranges, defaults), so
// two builds that would read a config differently are told apart even at the same version.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { TrainConfigSchema } from '../config/schema.js';
import { packageVersion } from '../util/package-version.js';

export interface Versions {
  /** package.json's version. */
  metaquant: string;
  /** First 16 hex digits of the SHA-256 of the config schema as JSON Schema. */
  configSchema: string;
}

let cached: Versions | undefined;

export function localVersions(): Versions {
  if (!cached) {
    const schema = JSON.stringify(z.toJSONSchema(TrainConfigSchema, { unrepresentable: 'any', io: 'input' }));
    cached = { metaquant: packageVersion(), configSchema: createHash('sha256').update(schema).digest('hex').slice(0, 16) };
  }
  return cached;
}

/** Why two sides may not work together, or undefined when they may. */
export function versionMismatch(theirs: Versions, ours: Versions, them: string, us: string): string | undefined {
  if (theirs.metaquant === ours.metaquant && theirs.configSchema === ours.configSchema) return undefined;
  return (
    `${them} runs metaquant ${theirs.metaquant} (config schema ${theirs.configSchema}) and ${us} metaquant ${ours.metaquant} ` +
    `(config schema ${ours.configSchema}); install the same metaquant on the coordinator and every worker`
  );
}
