import type { Command, Option } from 'commander';
import { configFromFlags, trainFlagOptions } from '../config/flags.js';
import { fieldForFlag } from '../config/fields.js';
import { LEGACY_KEYS, migrateLegacyKeys, normaliseConfigObject, validateConfigFields } from '../config/schema.js';
import { UsageError } from '../util/errors.js';
import { GRID_CONTROLLED_FIELDS } from './method-spec.js';

/**
 * The training options every run of a grid shares: compare's pass-through flags (the train flags a
 * grid does not set, generated from the same field table) and a config file's `train:` section.
 */

const exclude = GRID_CONTROLLED_FIELDS as readonly string[];

/** The train flags compare accepts and passes on, without defaults (each run's config fills them). */
export function passThroughOptions(): Option[] {
  return trainFlagOptions({ exclude });
}

/** The config fields the user set with pass-through flags on the compare command line. */
export function passThroughConfig(cmd: Command): Record<string, unknown> {
  return configFromFlags(cmd, { exclude });
}

/**
 * A config file's `train: {model: mlp, hidden: [32], train-limit: 5000, augment: false}` as config
 * fields; keys as fields or flag names, each checked now so that a problem names the file's key.
 */
export function configFromTrainSection(values: Record<string, unknown>, where: string): Record<string, unknown> {
  for (const key of Object.keys(values)) {
    const field = fieldForFlag(key) ?? fieldForFlag(key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)) ?? LEGACY_KEYS[key];
    if (field && exclude.includes(field)) throw new UsageError(`${where}: '${key}' is set by the grid (methods/quantizers/optimizers/seeds/epochs/out), not under train`);
  }
  try {
    const config = migrateLegacyKeys(normaliseConfigObject(values, where));
    validateConfigFields(config);
    return config;
  } catch (err) {
    if (err instanceof UsageError && !err.message.startsWith(where)) throw new UsageError(`${where}: ${err.message.replace(/^invalid training config:\n\s*/, '')}`);
    throw err;
  }
}
