// A run's configuration as files hold it: the run folder's config.json (written by train, or by
// compare before it starts the run) and the file `train --config FILE` reads.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InputFileError, UsageError } from '../util/errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { readSettingsFile } from '../util/data-file.js';
import { migrateLegacyKeys, normaliseConfigObject, parseTrainConfig, validateConfigFields, type TrainConfig } from '../config/schema.js';

export const CONFIG_FILE = 'config.json';

/** A training config stored in a file: its problems are the file's (InputFileError naming it). */
export function configFromFile(input: unknown, file: string): TrainConfig {
  try {
    return parseTrainConfig(input);
  } catch (err) {
    if (err instanceof UsageError) throw new InputFileError(file, err.message);
    throw err;
  }
}

/** Parses a run folder's config.json text (older versions' keys are migrated). */
export function parseRunConfig(text: string, file: string): TrainConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InputFileError(file, `is not valid JSON (${(err as Error).message})`);
  }
  return configFromFile(raw, file);
}

export function readRunConfig(runDir: string): TrainConfig {
  const file = join(runDir, CONFIG_FILE);
  if (!existsSync(file)) throw new UsageError(`${runDir} is not a run folder (no config.json)`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputFileError(file, `cannot be read (${(err as Error).message})`);
  }
  return parseRunConfig(text, file);
}

export function writeRunConfig(runDir: string, config: TrainConfig): void {
  writeFileAtomic(join(runDir, CONFIG_FILE), JSON.stringify(config, null, 2) + '\n');
}

/**
 * The fields a `train --config FILE` sets (JSON, or YAML for .yaml/.yml; keys as fields or flag
 * names; a run's config.json works too, older keys included). Each field is checked here, so a
 * problem names the file and the key; defaults are not filled, as command-line flags override
 * the file before the whole config is validated.
 */
export function readConfigFile(file: string): Record<string, unknown> {
  const raw = readSettingsFile(file, 'a training config');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InputFileError(file, 'expected an object of training options, e.g. {"model": "lenet5", "epochs": 5}');
  try {
    const values = migrateLegacyKeys(normaliseConfigObject(raw as Record<string, unknown>, 'training config'));
    validateConfigFields(values);
    return values;
  } catch (err) {
    if (err instanceof UsageError) throw new InputFileError(file, err.message);
    throw err;
  }
}
