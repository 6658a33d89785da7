import { tf, type Tensor, type Variable } from '../engine/tf.js';
import type { Rng } from '../util/rng.js';

/** What a parameter is for; decides quantization, look-ahead and initialisation. */
export type ParamRole = 'kernel' | 'bias' | 'bn-gamma' | 'bn-beta' | 'bn-mean' | 'bn-var' | ActivationParamRole;

/** Learned quantizer scalars (one per layer): PACT's clip α / LSQ's activation step, LSQ's weight step. */
export type ActivationParamRole = 'act-scale' | 'weight-step';

export interface ParamInfo {
  name: string;
  shape: number[];
  role: ParamRole;
  /** Updated by the optimizer (false for batch-norm running statistics). */
  trainable: boolean;
  /** For kernels: the layer the kernel belongs to, e.g. 'conv1'. */
  layer: string;
}

/**
 * The named parameters of a model, in creation order. Values live in tf.Variables so that
 * `tf.variableGrads` can differentiate with respect to them.
 */
export class ParamStore {
  readonly infos: ParamInfo[] = [];
  private readonly vars = new Map<string, Variable>();
  /** While set, creating parameters beyond this many elements in total throws (untrusted model configs). */
  limit: number | undefined;

  has(name: string): boolean {
    return this.vars.has(name);
  }

  get(name: string): Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`no parameter named '${name}'`);
    return v;
  }

  info(name: string): ParamInfo {
    const info = this.infos.find((p) => p.name === name);
    if (!info) throw new Error(`no parameter named '${name}'`);
    return info;
  }

  /** Checks, before anything is allocated, that `count` more elements stay within `limit`. */
  reserve(name: string, count: number): void {
    if (this.limit !== undefined && this.totalCount() + count > this.limit) {
      throw new Error(`parameter '${name}' would bring the model above ${this.limit} parameters`);
    }
  }

  add(info: ParamInfo, values: Float32Array): Variable {
    if (this.vars.has(info.name)) throw new Error(`parameter '${info.name}' declared twice`);
    const v = tf.variable(tf.tensor(values, info.shape, 'float32'), info.trainable, `mq/${info.name}/${uid++}`);
    this.infos.push(info);
    this.vars.set(info.name, v);
    return v;
  }

  names(filter?: (p: ParamInfo) => boolean): string[] {
    return this.infos.filter(filter ?? (() => true)).map((p) => p.name);
  }

  trainableNames(): string[] {
    return this.names((p) => p.trainable);
  }

  /** Copies the values out (for checkpoints and export). */
  snapshot(): Record<string, { shape: number[]; data: Float32Array }> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const p of this.infos) out[p.name] = { shape: p.shape, data: this.get(p.name).dataSync() as Float32Array };
    return out;
  }

  /** Overwrites values; shapes must match. */
  load(values: Record<string, { shape: number[]; data: ArrayLike<number> }>, opts: { strict: boolean } = { strict: true }): void {
    for (const p of this.infos) {
      const v = values[p.name];
      if (!v) {
        if (opts.strict) throw new Error(`missing parameter '${p.name}'`);
        continue;
      }
      if (v.shape.join('x') !== p.shape.join('x')) {
        throw new Error(`parameter '${p.name}' has shape [${v.shape}] but the model expects [${p.shape}]`);
      }
      this.get(p.name).assign(tf.tensor(Float32Array.from(v.data), p.shape, 'float32'));
    }
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
    this.infos.length = 0;
  }

  totalCount(filter?: (p: ParamInfo) => boolean): number {
    return this.infos.filter(filter ?? (() => true)).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  }
}

let uid = 0;

/** He-uniform U(−√(6/fanIn), +√(6/fanIn)), suited to ReLU networks. */
export function heUniform(rng: Rng, count: number, fanIn: number): Float32Array {
  const bound = Math.sqrt(6 / fanIn);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (rng.next() * 2 - 1) * bound;
  return out;
}

export function filled(count: number, value: number): Float32Array {
  return new Float32Array(count).fill(value);
}

export type { Tensor };
