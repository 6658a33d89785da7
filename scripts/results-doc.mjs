// Fills the generated tables of docs/results.md from finished `metaquant compare` folders.
//
//   node scripts/results-doc.mjs runs/results/fashion-mnist runs/results/digits
//
// Each folder's tables replace the text between `<!-- BEGIN grid:NAME -->` and `<!-- END grid:NAME -->`
// (NAME = the folder's base name); the prose around them is written by hand.
//
// Second edition (issue 17): every docs/results/data/<grid>/summary.json (a committed copy of a
// grid's summary) fills `<!-- BEGIN data:<grid> -->` … `<!-- END data:<grid> -->` with its selected
// configurations and paired intervals (scripts/results-doc-paired.mjs); a grid without such a
// section gets one appended under '## Second edition'. Other grids only need their summary.json
// committed there (the generic hook: no edit of this script). Extra pairs within a grid come from
// scripts/results-doc-pairs.mjs; the headline table across grids (`<!-- BEGIN headline -->`) from
// scripts/results-doc-headline.mjs. `--print-headline` also prints that table.
import { readFileSync, writeFileSync, renameSync, existsSync, readdirSync } from 'node:fs';
import { pairedSection } from './results-doc-paired.mjs';
import { extraPairsSection } from './results-doc-pairs.mjs';
import { headline } from './results-doc-headline.mjs';
import { checkProse } from './prose-check.mjs';
import { basename, join } from 'node:path';

const DOC = 'docs/results.md';
const COLUMNS = [
  ['dorefa', 'sgd'],
  ['dorefa', 'adam'],
  ['bwn', 'sgd'],
  ['bwn', 'adam'],
];

const pct = (x) => (x === null || x === undefined ? '–' : (100 * x).toFixed(1));
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

function accuracyTable(summary) {
  const methods = [...new Set(summary.cells.map((c) => c.method))];
  const cell = (m, q, o) => summary.cells.find((c) => c.method === m && c.quantizer === q && c.optimizer === o);
  const head = `| method | ${COLUMNS.map(([q, o]) => `${q} ${o.toUpperCase()}`).join(' | ')} |`;
  const rule = `|---|${COLUMNS.map(() => '---:').join('|')}|`;
  const rows = methods.map((m) => {
    const cols = COLUMNS.map(([q, o]) => {
      const c = cell(m, q, o);
      if (!c || c.n === 0) return '–';
      const std = c.finalStd === null ? '' : ` ± ${pct(c.finalStd)}`;
      return `${pct(c.finalMean)}${std} (${pct(c.lastKMean)})`;
    });
    return `| ${m} | ${cols.join(' | ')} |`;
  });
  return [head, rule, ...rows].join('\n');
}

/** Mean over seeds and epochs of a per-epoch diagnostic, and its value at the last epoch. */
function diagnostic(dir, runs, key) {
  const all = [];
  const last = [];
  for (const run of runs) {
    const file = join(dir, 'runs', run.id, 'metrics.jsonl');
    if (!existsSync(file)) continue;
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const values = lines.map((l) => l[key]).filter((v) => typeof v === 'number' && Number.isFinite(v));
    if (values.length === 0) continue;
    all.push(...values);
    last.push(values[values.length - 1]);
  }
  return all.length === 0 ? null : { mean: mean(all), last: mean(last) };
}

function diagnosticsTable(dir, summary) {
  // MetaQuant runs are the ones that log the meta network's diagnostics.
  const metaMethods = [...new Set(summary.cells.map((c) => c.method))].filter((m) =>
    diagnostic(dir, summary.runs.filter((r) => r.method === m), 'cosMetaSte') !== null,
  );
  const head = `| method | ${COLUMNS.map(([q, o]) => `${q} ${o.toUpperCase()}`).join(' | ')} |`;
  const rule = `|---|${COLUMNS.map(() => '---').join('|')}|`;
  const rows = metaMethods.map((m) => {
    const cols = COLUMNS.map(([q, o]) => {
      const runs = summary.runs.filter((r) => r.method === m && r.quantizer === q && r.optimizer === o);
      const c = diagnostic(dir, runs, 'metaC');
      const cos = diagnostic(dir, runs, 'cosMetaSte');
      const parts = [];
      if (c) parts.push(`c ${c.mean.toFixed(2)} → ${c.last.toFixed(2)}`);
      if (cos) parts.push(`cos ${cos.mean.toFixed(2)}`);
      return parts.join(', ') || '–';
    });
    return `| ${m} | ${cols.join(' | ')} |`;
  });
  return [head, rule, ...rows].join('\n');
}

function tablesFor(dir) {
  const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
  const n = summary.runs.length;
  const seeds = [...new Set(summary.cells.flatMap((c) => c.seeds))].sort((a, b) => a - b);
  const wall = summary.cells.reduce((s, c) => s + c.wallSecondsMean * c.n, 0);
  return [
    `Final test accuracy in %, mean ± sample std over seeds ${seeds.join(', ')}; in brackets the reference's`,
    `statistic (mean over runs × last ${summary.lastK} epochs). ${n} runs, ${(wall / 60).toFixed(0)} min of summed run time.`,
    '',
    accuracyTable(summary),
    '',
    'MetaQuant diagnostics: the effective scalar c of the FC variants (mean over all epochs and seeds → mean at',
    'the last epoch) and cos, the mean cosine between the meta-gradient and the STE gradient of the same step.',
    '',
    diagnosticsTable(dir, summary),
  ].join('\n');
}

const printHeadline = process.argv.includes('--print-headline');
let doc = readFileSync(DOC, 'utf8');
for (const dir of process.argv.slice(2).filter((a) => !a.startsWith('--'))) {
  const name = basename(dir.replace(/\/+$/, ''));
  const begin = `<!-- BEGIN grid:${name} -->`;
  const end = `<!-- END grid:${name} -->`;
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i < 0 || j < i) throw new Error(`${DOC} has no '${begin}' … '${end}' section`);
  doc = `${doc.slice(0, i + begin.length)}\n${tablesFor(dir)}\n${doc.slice(j)}`;
}
const DATA = 'docs/results/data';
const SECOND = '## Second edition';
const summaries = new Map();
for (const name of existsSync(DATA) ? readdirSync(DATA).sort() : []) {
  const file = join(DATA, name, 'summary.json');
  if (!existsSync(file)) continue;
  const summary = JSON.parse(readFileSync(file, 'utf8'));
  if (!Array.isArray(summary.paired) || !Array.isArray(summary.selection)) continue; // a summary from before issue 17
  summaries.set(name, summary);
  const begin = `<!-- BEGIN data:${name} -->`;
  const end = `<!-- END data:${name} -->`;
  if (!doc.includes(begin)) {
    if (!doc.includes(SECOND)) doc = `${doc.trimEnd()}\n\n${SECOND}\n`;
    doc = `${doc.trimEnd()}\n\n### ${name}\n\n${begin}\n${end}\n`;
  }
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (j < i) throw new Error(`${DOC}: '${end}' comes before '${begin}'`);
  const extra = extraPairsSection(name, summary);
  doc = `${doc.slice(0, i + begin.length)}\n${pairedSection(summary)}${extra ? `\n\n${extra}` : ''}\n${doc.slice(j)}`;
}
const table = headline(summaries);
const [hb, he] = ['<!-- BEGIN headline -->', '<!-- END headline -->'];
if (table && doc.includes(hb)) doc = `${doc.slice(0, doc.indexOf(hb) + hb.length)}\n${table}\n${doc.slice(doc.indexOf(he))}`;
if (printHeadline) console.log(table ?? 'no headline grid has a committed summary');
writeFileSync(`${DOC}.tmp`, doc);
renameSync(`${DOC}.tmp`, DOC);
// The second edition's prose quotes only generated numbers (the first edition's predates the check).
checkProse(`${DOC} (${SECOND})`, doc.slice(doc.indexOf(SECOND)));
