import { tf, type Tensor } from '../../engine/tf.js';
import type { QuantizeCapture } from '../../quantizers/types.js';
import type { LstmState, MetaNetwork } from '../../meta/types.js';
import type { FlipTracker, MeanAccumulator } from '../diagnostics.js';
import type { RngState } from '../../util/rng.js';
import type { BaseOptimizer, OptimizerState, TorchAdam } from '../optimizers.js';
import type { MetaMonitor, MonitorState } from './monitor.js';
import { disposeMap, loadTensor, loadTensorMap, replaceKept, saveTensor, saveTensorMap, type SavedTensor } from '../tensor-state.js';

/** What a checkpoint stores of a MetaQuant run (the format of `stepState`). */
export interface SavedMetaQuantState {
  started: boolean;
  optimizer: OptimizerState;
  metaParams: Record<string, SavedTensor>;
  metaAdam: ReturnType<TorchAdam['getState']>;
  gHatPrev: Record<string, SavedTensor>;
  wTildePrev: Record<string, SavedTensor>;
  lookahead: Record<string, SavedTensor>;
  lstm: { h: SavedTensor; c: SavedTensor } | null;
  /** The zeroth-order path's perturbation stream (absent for the other φ-paths). */
  zoRng?: RngState;
  /** Diagnostics in progress (absent in older checkpoints). */
  flips?: Record<string, SavedTensor>;
  diagnostics?: ReturnType<MeanAccumulator['getState']>;
  /** Meta steps taken (--meta-warmup) and the collapse watch (absent before issue 17). */
  monitor?: MonitorState;
}

/** What one iteration hands to the next (spec §6: "state per quantized layer"). */
export class CarriedState {
  /** False until iteration 0 has run: no g_Ŵ exists yet. */
  started = false;
  /** g_Ŵ^{t−1} and W̃^{t−1} per quantized kernel: the next meta call's inputs. */
  readonly gHatPrev = new Map<string, Tensor>();
  readonly wTildePrev = new Map<string, Tensor>();
  /** G: the base optimizer's last applied direction (quantized kernels and their look-ahead biases). */
  readonly lookahead = new Map<string, Tensor>();
  /** The per-element LSTM state the next meta call receives (null = zeros). */
  lstm: LstmState | null = null;

  /** Keeps this iteration's g_Ŵ and W̃ (the captures' tensors become owned here). */
  keepCaptures(captures: Map<string, QuantizeCapture>): void {
    for (const [k, cap] of captures) {
      replaceKept(this.gHatPrev, k, cap.gHat!);
      replaceKept(this.wTildePrev, k, cap.wTilde!);
    }
  }

  /** Carries `next` to the next call (or zeros with `reset`); owns it from now on. */
  carryLstm(next: LstmState | undefined, reset: boolean): void {
    const old = this.lstm;
    this.lstm = reset || !next ? null : next;
    if (old) tf.dispose([old.h, old.c]);
    if (reset && next) tf.dispose([next.h, next.c]);
  }

  dispose(): void {
    disposeMap(this.gHatPrev);
    disposeMap(this.wTildePrev);
    disposeMap(this.lookahead);
    if (this.lstm) tf.dispose([this.lstm.h, this.lstm.c]);
    this.lstm = null;
  }
}

/** Everything of a MetaQuant step a checkpoint holds. */
export interface StateOwners {
  carried: CarriedState;
  optimizer: BaseOptimizer;
  meta: MetaNetwork;
  metaAdam: TorchAdam;
  /** The φ-path's own state (the zeroth-order perturbation stream); structural, so state.ts needs no phi-path import. */
  phiPath: { getState(): RngState | undefined; setState(state: RngState | undefined): void };
  flips: FlipTracker;
  diag: MeanAccumulator;
  monitor: Pick<MetaMonitor, 'getState' | 'setState'>;
}

export function saveMetaQuantState(o: StateOwners): SavedMetaQuantState {
  const metaParams: Record<string, SavedTensor> = {};
  for (const [k, v] of o.meta.params) metaParams[k] = saveTensor(v);
  const zoRng = o.phiPath.getState();
  const { carried } = o;
  return {
    started: carried.started,
    optimizer: o.optimizer.getState(),
    metaParams,
    metaAdam: o.metaAdam.getState(),
    gHatPrev: saveTensorMap(carried.gHatPrev),
    wTildePrev: saveTensorMap(carried.wTildePrev),
    lookahead: saveTensorMap(carried.lookahead),
    lstm: carried.lstm ? { h: saveTensor(carried.lstm.h), c: saveTensor(carried.lstm.c) } : null,
    ...(zoRng ? { zoRng } : {}),
    flips: o.flips.getState(),
    diagnostics: o.diag.getState(),
    monitor: o.monitor.getState(),
  };
}

export function restoreMetaQuantState(o: StateOwners, raw: unknown): void {
  const s = raw as SavedMetaQuantState;
  const { carried } = o;
  carried.started = s.started;
  o.optimizer.setState(s.optimizer);
  for (const [k, v] of Object.entries(s.metaParams)) o.meta.params.get(k)!.assign(tf.tensor(v.data, v.shape));
  o.metaAdam.setState(s.metaAdam);
  for (const [target, saved] of [[carried.gHatPrev, s.gHatPrev], [carried.wTildePrev, s.wTildePrev], [carried.lookahead, s.lookahead]] as const) {
    disposeMap(target);
    for (const [k, v] of loadTensorMap(saved)) target.set(k, v);
  }
  if (carried.lstm) tf.dispose([carried.lstm.h, carried.lstm.c]);
  carried.lstm = s.lstm ? { h: loadTensor(s.lstm.h), c: loadTensor(s.lstm.c) } : null;
  o.flips.setState(s.flips);
  o.diag.setState(s.diagnostics);
  o.phiPath.setState(s.zoRng);
  o.monitor.setState(s.monitor);
}
