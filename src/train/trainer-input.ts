// What `Trainer.create` takes: the training config's fields (checked by TypeScript through
// TrainerInput, and at run time by the schema: an unknown key is an error with a suggestion)
// plus, optionally, the caller's own data.
import { parseTrainConfig, type TrainConfig, type TrainConfigInput } from '../config/schema.js';
import { USER_DATA_NAME, datasetFromUserData, type UserData } from '../data/user-data.js';
import { UsageError } from '../util/errors.js';
import type { Dataset } from '../data/types.js';
import { datasetFor } from './factory.js';

/** Older names of config fields, still accepted (see LEGACY_KEYS). */
export interface LegacyTrainerKeys {
  /** @deprecated use `method` */
  estimator?: TrainConfigInput['method'];
  /** @deprecated use `lrStep` */
  lrStepEpochs?: TrainConfigInput['lrStep'];
  /** @deprecated use `maxMetaMemory` */
  maxMetaMemoryGiB?: TrainConfigInput['maxMetaMemory'];
  /** @deprecated use `maxMemory` */
  maxMemoryGiB?: TrainConfigInput['maxMemory'];
  /** @deprecated use `injectNan` */
  injectNanAtSteps?: AcceptReadonly<TrainConfigInput['injectNan']>;
}

/**
 * `Trainer.create`'s argument: the config fields (the train flags in camelCase: `batchSize`,
 * `bits`, …) and `data`, the caller's own tensors or tf.data datasets (then `dataset` is
 * recorded as 'user-data').
 */
export type TrainerInput = ConfigFields & LegacyTrainerKeys & { data?: UserData };

/** A list field also takes a readonly array (`hidden: [32] as const`). */
type AcceptReadonly<T> = T extends (infer E)[] ? T | readonly E[] : T;
type ConfigFields = { [K in keyof TrainConfigInput]?: AcceptReadonly<TrainConfigInput[K]> };

/** The validated config and the data set a Trainer input describes. */
export function trainerInputParts(input: TrainerInput): { config: TrainConfig; loadData(): Promise<Dataset> } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new UsageError('Trainer.create: expected an object of config fields, e.g. { dataset: "mnist", epochs: 2 }');
  const { data, ...fields } = input;
  if (data === undefined) {
    const config = parseTrainConfig(fields);
    return { config, loadData: () => datasetFor(config) };
  }
  if (fields.dataset !== undefined && fields.dataset !== USER_DATA_NAME) {
    throw new UsageError(`Trainer.create: give either data (your own tensors) or dataset '${fields.dataset}', not both`);
  }
  const config = parseTrainConfig({ ...fields, dataset: USER_DATA_NAME });
  return { config, loadData: () => datasetFromUserData(data, { trainLimit: config.trainLimit, testLimit: config.testLimit }) };
}
