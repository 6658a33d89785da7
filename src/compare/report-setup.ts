import type { TrainConfig } from '../config/schema.js';
import type { RunSpec } from './grid.js';
import { escapeHtml } from './format.js';

/**
 * report.html's setup block: what the grid trained (data set, model, epochs, limits, batch,
 * learning rates…) read from its runs' recorded configs, and the compare command lines that made
 * it (grid.json). A setting that differs between methods is listed per method.
 */


interface SetupRow {
  label: string;
  /** The setting of one run, or undefined where it does not apply (e.g. meta lr of STE). */
  value(c: TrainConfig): string | undefined;
}

const text = (v: unknown) => (v === undefined || v === null ? undefined : Array.isArray(v) ? v.join(',') : String(v));

const SETUP_ROWS: SetupRow[] = [
  { label: 'data set', value: (c) => c.dataset + (c.dataDir ? ` (${c.dataDir})` : '') },
  { label: 'model', value: (c) => c.model + (c.hidden?.length ? ` (hidden ${c.hidden.join(',')})` : '') },
  { label: 'epochs', value: (c) => text(c.epochs) },
  { label: 'train limit', value: (c) => text(c.trainLimit) ?? 'all' },
  { label: 'test limit', value: (c) => text(c.testLimit) ?? 'all' },
  { label: 'batch size', value: (c) => text(c.batchSize) },
  { label: 'learning rate', value: (c) => text(c.lr) + (c.lrScale !== 1 ? ` × ${c.lrScale}` : '') },
  { label: 'schedule', value: (c) => (c.schedule === 'step' ? `step (÷10 every ${c.lrStep} epochs)` : c.schedule) },
  { label: 'meta lr', value: (c) => (c.method === 'metaquant' ? text(c.metaLr) : undefined) },
  { label: 'weight decay', value: (c) => text(c.weightDecay) ?? 'default' },
  { label: 'backend', value: (c) => c.backend },
];

/** One row's text: the value shared by every run it applies to, else `method: value` per method. */
function describe(runs: readonly RunSpec[], row: SetupRow): string | undefined {
  const perMethod = new Map<string, Set<string>>();
  for (const r of runs) {
    const v = row.value(r.config);
    if (v === undefined) continue;
    const set = perMethod.get(r.method) ?? new Set<string>();
    set.add(v);
    perMethod.set(r.method, set);
  }
  const all = new Set([...perMethod.values()].flatMap((s) => [...s]));
  if (all.size === 0) return undefined;
  if (all.size === 1) return [...all][0]!;
  return [...perMethod].map(([m, s]) => `${m}: ${[...s].join(', ')}`).join('; ');
}

/** The setup block's HTML (a section with id "setup"). */
export function setupSection(runs: readonly RunSpec[], commands: readonly string[]): string {
  const axes: Array<[string, string[]]> = [
    ['methods', [...new Set(runs.map((r) => r.method))]],
    ['quantizers', [...new Set(runs.map((r) => r.quantizer))]],
    ['optimizers', [...new Set(runs.map((r) => r.optimizer))]],
    ['seeds', [...new Set(runs.map((r) => String(r.seed)))]],
  ];
  const rows = [
    ...axes.map(([label, values]) => [label, values.join(', ')] as const),
    ...SETUP_ROWS.map((row) => [row.label, describe(runs, row)] as const).filter((r): r is readonly [string, string] => r[1] !== undefined),
  ];
  const table = `<table id="setup-table"><tbody>${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n')}</tbody></table>`;
  const made =
    commands.length > 0
      ? `<p>Made by:</p>\n${commands.map((c) => `<pre class="command">${escapeHtml(c)}</pre>`).join('\n')}`
      : '<p class="note">The command that made this grid is not recorded (a grid folder of an earlier metaquant version).</p>';
  return `<section id="setup"><h2>Setup</h2>\n${table}\n${made}\n</section>`;
}
