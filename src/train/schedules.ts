import { unknownChoice } from '../util/errors.js';
import { SCHEDULES, type ScheduleName } from '../config/choices.js';

/** The choices live with the config (config/choices.ts), below the training code. */
export { SCHEDULES, type ScheduleName };

export interface ScheduleConfig {
  name: ScheduleName;
  /** step: divide by `factor` every `stepEpochs` epochs (the method: ÷10 every 30). */
  stepEpochs?: number;
  factor?: number;
}

/** Learning-rate multiplier for a 0-based epoch, out of `totalEpochs`. */
export function lrMultiplier(schedule: ScheduleConfig, epoch: number, totalEpochs: number): number {
  switch (schedule.name) {
    case 'constant':
      return 1;
    case 'step':
      return (1 / (schedule.factor ?? 10)) ** Math.floor(epoch / (schedule.stepEpochs ?? 30));
    case 'cosine':
      return 0.5 * (1 + Math.cos((Math.PI * epoch) / Math.max(totalEpochs, 1)));
    default:
      throw unknownChoice('lr schedule', (schedule as ScheduleConfig).name, SCHEDULES);
  }
}
