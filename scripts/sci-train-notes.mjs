// The tables of docs/results/sci-train-notes.md (issue 17: collapse below chance, the φ objective),
// generated from committed grid data so that every number in them can be regenerated.
//
//   node scripts/sci-train-notes.mjs collect runs/results/collapse ...   # compare folders → docs/results/data/<name>/
//   node scripts/sci-train-notes.mjs                                      # data → the notes' generated blocks
//
// `collect` copies each folder's summary.json and writes runs.json: per run the final and per-epoch
// test accuracy, training loss and the MetaQuant diagnostics (cosMetaSte, metaC, collapseWarnings).
// The default command replaces the text between `<!-- BEGIN NAME -->` and `<!-- END NAME -->` in the
// notes; the prose around the blocks is written by hand and quotes only numbers the blocks show.
import { checkProse } from './prose-check.mjs';
import { readFileSync, writeFileSync, renameSync, existsSync, mkdirSync, copyFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const DATA = 'docs/results/data';
const NOTES = 'docs/results/sci-train-notes.md';
const CHANCE = 0.1;
/**
 * A run *collapsed* when it ends below chance with a training loss that rose from the first epoch
 * to the last (it went uphill); a run below chance whose loss fell is merely slow (e.g. plain SGD at
 * lr 1e-3 after 2 epochs).
 */
const collapsed = (r) => r.finalAccuracy < CHANCE && last(r.trainLoss) > r.trainLoss[0];

const pct = (x) => (x === null || x === undefined || !Number.isFinite(x) ? '–' : (100 * x).toFixed(1));
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => (xs.length < 2 ? null : Math.sqrt(xs.reduce((a, x) => a + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
// Two-sided 95 % Student t quantiles, df 1..10.
const T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228];

function collect(dirs) {
  for (const dir of dirs) {
    const name = basename(dir);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    mkdirSync(join(DATA, name), { recursive: true });
    copyFileSync(join(dir, 'summary.json'), join(DATA, name, 'summary.json'));
    const runs = summary.runs.map((r) => {
      const lines = readFileSync(join(dir, 'runs', r.id, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const series = (key) => lines.map((l) => (typeof l[key] === 'number' ? l[key] : null));
      return {
        id: r.id,
        method: r.method,
        optimizer: r.optimizer,
        seed: r.seed,
        finalAccuracy: r.finalAccuracy,
        testAccuracy: series('testAccuracy'),
        trainLoss: series('trainLoss'),
        cosMetaSte: series('cosMetaSte'),
        metaC: series('metaC'),
        collapseWarnings: lines.reduce((a, l) => a + (l.collapseWarnings ?? 0), 0),
      };
    });
    writeFileSync(join(DATA, name, 'runs.json'), JSON.stringify({ grid: name, source: dir, runs }, null, 1) + '\n');
    console.log(`${dir} → ${join(DATA, name)} (${runs.length} runs)`);
  }
}

const load = (name) => JSON.parse(readFileSync(join(DATA, name, 'runs.json'), 'utf8')).runs;
const last = (xs) => [...xs].reverse().find((x) => x !== null) ?? null;
const methodsOf = (runs) => [...new Set(runs.map((r) => r.method))];
const signed = (x, digits = 2) => (x === null ? '–' : (x >= 0 ? '+' : '') + x.toFixed(digits));

/** One row per method: per-seed finals, mean ± std, runs below chance, runs warned, last-epoch cos per seed. */
function collapseTable(runs) {
  const head = '| method | final test accuracy per seed (%) | mean ± std | below chance | collapsed | warned | cos(meta, STE), last epoch, per seed |';
  const rows = methodsOf(runs).map((m) => {
    const rs = runs.filter((r) => r.method === m).sort((a, b) => a.seed - b.seed);
    const acc = rs.map((r) => r.finalAccuracy);
    const s = std(acc);
    const below = rs.filter((r) => r.finalAccuracy < CHANCE).length;
    const down = rs.filter(collapsed).length;
    const warned = rs.filter((r) => r.collapseWarnings > 0).length;
    const cos = rs.map((r) => signed(last(r.cosMetaSte))).join(', ');
    const isMeta = rs.some((r) => last(r.cosMetaSte) !== null);
    return `| ${m} | ${acc.map(pct).join(', ')} | ${pct(mean(acc))}${s === null ? '' : ` ± ${pct(s)}`} | ${below}/${rs.length} | ${down}/${rs.length} | ${isMeta ? `${warned}/${rs.length}` : '–'} | ${isMeta ? cos : '–'} |`;
  });
  return [head, '|---|---|---:|---:|---:|---:|---|', ...rows].join('\n');
}

/** Paired per-seed difference of final accuracy, `a` − `b`: mean, t-based 95 % interval, min..max. */
function paired(runs, a, b, seeds) {
  const by = (m) => new Map(runs.filter((r) => r.method === m).map((r) => [r.seed, r.finalAccuracy]));
  const A = by(a);
  const B = by(b);
  const d = seeds.filter((s) => A.has(s) && B.has(s)).map((s) => A.get(s) - B.get(s));
  if (d.length === 0) return null;
  const sd = std(d);
  const half = sd === null ? null : T95[d.length - 2] * (sd / Math.sqrt(d.length));
  return { n: d.length, mean: mean(d), lo: half === null ? null : mean(d) - half, hi: half === null ? null : mean(d) + half, min: Math.min(...d), max: Math.max(...d) };
}

const showPaired = (p) => (p === null ? '–' : `${signed(100 * p.mean, 1)} [${p.lo === null ? '–' : signed(100 * p.lo, 1)}, ${p.hi === null ? '–' : signed(100 * p.hi, 1)}] (n ${p.n}; ${signed(100 * p.min, 1)}..${signed(100 * p.max, 1)})`);

/** For each meta network with a `-warmup20` twin: warm-up vs base (all seeds and non-collapsed seeds) and vs STE. */
function warmupTable(runs) {
  const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  const head = '| meta network | warm-up − base, all seeds | warm-up − base, seeds where base ≥ chance | base − STE, those seeds | warm-up − STE, all seeds |';
  const rows = methodsOf(runs)
    .filter((m) => methodsOf(runs).includes(`${m}-warmup20`))
    .map((m) => {
      const healthy = seeds.filter((s) => runs.some((r) => r.method === m && r.seed === s && r.finalAccuracy >= CHANCE));
      return `| ${m} | ${showPaired(paired(runs, `${m}-warmup20`, m, seeds))} | ${showPaired(paired(runs, `${m}-warmup20`, m, healthy))} | ${showPaired(paired(runs, m, 'ste', healthy))} | ${showPaired(paired(runs, `${m}-warmup20`, 'ste', seeds))} |`;
    });
  return [head, '|---|---|---|---|---|', ...rows].join('\n');
}

/** Per method: accuracy as in collapseTable plus the effective c per seed, epoch by epoch (signed, never averaged across seeds). */
function objectiveTable(runs) {
  const base = collapseTable(runs).split('\n');
  const cs = methodsOf(runs).map((m) => {
    const rs = runs.filter((r) => r.method === m).sort((a, b) => a.seed - b.seed);
    return rs.some((r) => last(r.metaC) !== null) ? rs.map((r) => r.metaC.map((c) => signed(c)).join('→')).join(', ') : '–';
  });
  return [base[0] + ' c per seed (epoch means, 1→2) |', base[1] + '---|', ...base.slice(2).map((row, i) => `${row} ${cs[i]} |`)].join('\n');
}

/** The base objective a variant is compared with: its meta network's plain method, with the same weight decay. */
function baseOf(m, methods) {
  const net = m.startsWith('lstm-h') ? m.split('-').slice(0, 2).join('-') : m.split('-')[0];
  const base = m.endsWith('-wd0') && m !== `${net}-wd0` && methods.includes(`${net}-wd0`) ? `${net}-wd0` : net;
  return base !== m && methods.includes(base) ? base : null;
}

/** Paired differences against the base objective for each variant of a meta network. */
function objectivePairs(runs) {
  const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
  const methods = methodsOf(runs);
  const head = '| variant | its base | − its base (points) | − STE (points) |';
  const rows = methods
    .filter((m) => m !== 'ste' && baseOf(m, methods))
    .map((m) => `| ${m} | ${baseOf(m, methods)} | ${showPaired(paired(runs, m, baseOf(m, methods), seeds))} | ${showPaired(paired(runs, m, 'ste', seeds))} |`);
  return [head, '|---|---|---|---|', ...rows].join('\n');
}

/** Over every collected grid: does the collapse warning fire in exactly the runs that end below chance? */
function warningCheck() {
  const grids = ['collapse', 'collapse-sgd', 'collapse-size', 'phi-objective'].filter((g) => existsSync(join(DATA, g, 'runs.json')));
  const seen = new Map();
  for (const g of grids) for (const r of load(g)) if (r.cosMetaSte.some((c) => c !== null)) seen.set(JSON.stringify([r.method, r.optimizer, r.seed, r.testAccuracy]), r);
  const runs = [...seen.values()];
  const down = runs.filter(collapsed);
  const below = runs.filter((r) => r.finalAccuracy < CHANCE);
  const warned = runs.filter((r) => r.collapseWarnings > 0);
  const both = down.filter((r) => r.collapseWarnings > 0);
  return (
    `MetaQuant runs in ${grids.join(', ')} (runs shared between grids counted once): ${runs.length}; ` +
    `ended below chance: ${below.length}, of which collapsed (training loss rising): ${down.length}; warned: ${warned.length}; ` +
    `collapsed and warned: ${both.length}; warned without collapsing: ${warned.length - both.length}; collapsed without a warning: ${down.length - both.length}.`
  );
}

const BLOCKS = {
  'collapse-adam': () => objectiveTable(load('collapse')),
  'collapse-warmup': () => warmupTable(load('collapse')),
  'collapse-sgd': () => collapseTable(load('collapse-sgd')),
  'collapse-size': () => collapseTable(load('collapse-size')),
  'collapse-size-warmup': () => warmupTable(load('collapse-size')),
  'phi-objective': () => objectiveTable(load('phi-objective')),
  'phi-objective-pairs': () => objectivePairs(load('phi-objective')),
  'warning-check': () => warningCheck(),
};

function render() {
  let doc = readFileSync(NOTES, 'utf8');
  for (const [name, make] of Object.entries(BLOCKS)) {
    const begin = `<!-- BEGIN ${name} -->`;
    const end = `<!-- END ${name} -->`;
    const i = doc.indexOf(begin);
    const j = doc.indexOf(end);
    if (i < 0 || j < i) continue;
    const dataName = name.startsWith('phi-objective') ? 'phi-objective' : name.startsWith('collapse-s') ? name.replace('-warmup', '') : 'collapse'; // warning-check: any grid
    if (!existsSync(join(DATA, dataName, 'runs.json'))) {
      console.error(`${name}: no ${join(DATA, dataName, 'runs.json')} yet; block left as it is`);
      continue;
    }
    doc = doc.slice(0, i + begin.length) + '\n' + make() + '\n' + doc.slice(j);
  }
  writeFileSync(NOTES + '.tmp', doc);
  renameSync(NOTES + '.tmp', NOTES);
  console.log(`${NOTES}: generated blocks updated`);
  checkProse(NOTES, doc);
}

const [command, ...rest] = process.argv.slice(2);
if (command === 'collect') collect(rest);
else if (command === undefined) render();
else {
  console.error('usage: node scripts/sci-train-notes.mjs [collect DIR...]');
  process.exit(2);
}
