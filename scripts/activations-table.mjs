// The README's activation-quantization table (issue 16), from the grids' summary.json files:
//   node scripts/activations-table.mjs [DIR]     (DIR default docs/results/data/activations)
// DIR holds activations.summary.json, activations-lsq.summary.json, activations-bnn.summary.json and
// activations-first-layer.summary.json, copies of the summary.json that `metaquant compare` wrote
// for docs/results/activations*.yaml.
// Prints a Markdown table: rows = training method, columns = activation bits, cells = final test
// accuracy mean ± std over the seeds (n runs), then the fully binary network's row.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2] ?? 'docs/results/data/activations';
const read = (name) => {
  const file = join(dir, `${name}.summary.json`);
  if (!existsSync(file)) return [];
  const json = JSON.parse(readFileSync(file, 'utf8'));
  if (json.format !== 'metaquant-compare-summary') throw new Error(`${file} is not a compare summary.json`);
  return json.cells;
};
const cells = [...read('activations'), ...read('activations-lsq'), ...read('activations-bnn'), ...read('activations-first-layer')];
const cellFor = (method) => cells.find((c) => c.method === method);
const fmt = (c) => (c ? `${(c.finalMean * 100).toFixed(1)} ± ${c.finalStd === null ? '–' : (c.finalStd * 100).toFixed(1)} (n=${c.n})` : 'not run');

const ROWS = [
  ['STE, BWN weights, DoReFa activations', 'ste'],
  ['LSQ (STE), LSQ weights, LSQ activations', 'lsq'],
  ['MetaQuant FC-Grad, BWN weights, DoReFa activations', 'fcgrad'],
];
const BITS = [32, 8, 2, 1];
const lines = [
  `| 1-bit weights, method | ${BITS.map((b) => (b === 32 ? 'float activations' : `${b}-bit activations`)).join(' | ')} |`,
  `|---|${BITS.map(() => '---').join('|')}|`,
  ...ROWS.map(([label, prefix]) => `| ${label} | ${BITS.map((b) => fmt(cellFor(`${prefix}-a${b}`))).join(' | ')} |`),
  '',
  '| fully binary network (sign weights, sign activations) | test accuracy % |',
  '|---|---|',
  `| BNN trained by STE | ${fmt(cellFor('bnn-ste'))} |`,
  `| BNN trained by MetaQuant FC-Grad | ${fmt(cellFor('bnn-fcgrad'))} |`,
  '',
  '| first and last layers float (MLP 784-128-128-10, only fc2 and its input quantized), STE, BWN weights | test accuracy % |',
  '|---|---|',
  `| float activations | ${fmt(cellFor('mid-a32'))} |`,
  `| DoReFa 8-bit activations | ${fmt(cellFor('mid-dorefa-a8'))} |`,
  `| LSQ 8-bit activations | ${fmt(cellFor('mid-lsq-a8'))} |`,
];
console.log(lines.join('\n'));
