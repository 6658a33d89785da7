import { parseFlagValue } from '../config/flags.js';
import { flagName, fieldKey } from '../config/fields.js';
import { UsageError } from '../util/errors.js';
import { GRID_CONTROLLED_FIELDS, splitList } from './method-spec.js';

/**
 * `--sweep KEY=V1,V2,…`: one axis of hyper-parameter values that every method is trained at. A
 * value of a swept field is given as flag text (`lr=1e-3,3e-3`) or, in a config file, as a list
 * (`sweep: {lr: [0.001, 0.003]}`); each is validated like the flag.
 */
export interface SweepAxis {
  /** The flag name, e.g. 'meta-lr'. */
  flag: string;
  /** The config field, e.g. 'metaLr'. */
  field: string;
  texts: string[];
  values: unknown[];
}

function axis(key: string, texts: string[], where: string): SweepAxis {
  const flag = flagName(fieldKey(key.trim()));
  if (texts.length === 0) throw new UsageError(`${where}: sweep '${key}' has no values; expected e.g. lr=1e-3,3e-3`);
  if ((GRID_CONTROLLED_FIELDS as readonly string[]).includes(fieldKey(flag))) throw new UsageError(`${where}: --${flag} is a grid axis of its own and cannot be swept`);
  if (new Set(texts).size !== texts.length) throw new UsageError(`${where}: sweep '${flag}' lists a value twice`);
  const parsed = texts.map((t) => {
    try {
      return parseFlagValue(flag, t);
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`${where}: sweep '${flag}': ${err.message}`);
      throw err;
    }
  });
  return { flag, field: parsed[0]!.key, texts, values: parsed.map((p) => p.value) };
}

/** `lr=1e-3,3e-3,1e-2` → an axis. */
export function parseSweepSpec(text: string): SweepAxis {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UsageError(`--sweep '${text}': expected KEY=V1,V2,… (e.g. lr=1e-3,3e-3,1e-2)`);
  return axis(text.slice(0, eq), splitList(text.slice(eq + 1)), `--sweep '${text}'`);
}

/** A config file's `sweep: {lr: [...], meta-lr: [...]}`. */
export function sweepFromConfig(sweep: Record<string, unknown[]>, where: string): SweepAxis[] {
  return Object.entries(sweep).map(([key, values]) => axis(key, values.map(String), where));
}

/** Checks that no field is swept twice (e.g. --sweep lr=… and a config file's sweep: {lr: …} are merged by the caller, flags first). */
export function uniqueAxes(axes: SweepAxis[]): SweepAxis[] {
  const seen = new Set<string>();
  for (const a of axes) {
    if (seen.has(a.field)) throw new UsageError(`--sweep ${a.flag} is given twice`);
    seen.add(a.field);
  }
  return axes;
}

/**
 * Which runs a field affects. A swept value that does not apply to a run (meta-lr for STE, momentum
 * under Adam) is left out instead of multiplying its runs by identical copies.
 */
const APPLIES: Record<string, (c: Record<string, unknown>) => boolean> = {
  metaLr: (c) => c.method === 'metaquant',
  metaHidden: (c) => c.method === 'metaquant',
  metaLayers: (c) => c.method === 'metaquant' && c.meta === 'multifc',
  metaActivation: (c) => c.method === 'metaquant',
  mqMode: (c) => c.method === 'metaquant',
  phiPath: (c) => c.method === 'metaquant',
  zoMethod: (c) => c.method === 'metaquant' && c.phiPath === 'zeroth-order',
  zoSamples: (c) => c.method === 'metaquant' && c.phiPath === 'zeroth-order',
  zoScale: (c) => c.method === 'metaquant' && c.phiPath === 'zeroth-order',
  lstmReset: (c) => c.method === 'metaquant' && c.meta === 'lstm',
  freezePhi: (c) => c.method === 'metaquant',
  detachPhi: (c) => c.method === 'metaquant',
  lrScale: (c) => c.method !== 'metaquant',
  hypergradBeta: (c) => c.method === 'ste-hypergrad',
  momentum: (c) => c.optimizer === 'sgd',
  nesterov: (c) => c.optimizer === 'sgd',
};

/** Whether sweeping `field` changes a run whose config (before the sweep) is `config`. */
export function sweepApplies(field: string, config: Record<string, unknown>): boolean {
  return APPLIES[field]?.(config) ?? true;
}

export interface SweepVariant {
  /** Config fields the variant sets. */
  config: Record<string, unknown>;
  /** flag → value text, in axis order; empty when nothing applies. */
  values: Record<string, string>;
  /** `+lr=0.001+meta-lr=1e-4`, appended to the method's label ('' when nothing applies). */
  suffix: string;
}

/**
 * Every combination of the axes that apply to a run: not those whose field the method itself
 * sets (`ste+lr=0.1` keeps its lr), nor those `sweepApplies` rules out.
 */
export function sweepVariants(axes: readonly SweepAxis[], config: Record<string, unknown>, methodFields: Record<string, unknown>): SweepVariant[] {
  const live = axes.filter((a) => !(a.field in methodFields) && sweepApplies(a.field, config));
  let variants: SweepVariant[] = [{ config: {}, values: {}, suffix: '' }];
  for (const a of live) {
    variants = variants.flatMap((v) =>
      a.texts.map((text, i) => ({ config: { ...v.config, [a.field]: a.values[i] }, values: { ...v.values, [a.flag]: text }, suffix: `${v.suffix}+${a.flag}=${text}` })),
    );
  }
  return variants;
}
