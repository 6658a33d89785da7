import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { curve, groupByCell } from './statistics.js';
import type { GridData, SummaryRow } from './summary.js';

/**
 * The report's charts as vega-lite specs, rendered to SVG in Node (no browser, no network). Each
 * chart has one panel per quantizer × optimizer and one colour per method.
 */

export interface Chart {
  name: string;
  title: string;
  caption: string;
  spec: TopLevelSpec;
}

const panel = (r: { quantizer: string; optimizer: string }) => `${r.quantizer} · ${r.optimizer}`;
// Two panels side by side fill the report's width (the SVG scales to it): text stays readable.
const PANEL_WIDTH = 430;
const PANEL_HEIGHT = 220;

interface CurveMetric {
  key: string;
  name: string;
  title: string;
  axis: string;
  scale: number;
}

const LEARNING_CURVES: CurveMetric[] = [
  { key: 'testAccuracy', name: 'test-accuracy', title: 'Test accuracy per epoch', axis: 'test accuracy (%)', scale: 100 },
  { key: 'trainLoss', name: 'train-loss', title: 'Training loss per epoch', axis: 'training loss', scale: 1 },
];

const META_CURVES: CurveMetric[] = [
  { key: 'metaC', name: 'meta-c', title: 'MetaQuant: effective c per epoch', axis: 'effective c', scale: 1 },
  { key: 'cosMetaSte', name: 'cos-meta-ste', title: 'MetaQuant: cos(meta gradient, STE gradient) per epoch', axis: 'cos(meta, STE)', scale: 1 },
];

/** The grid's methods and panels in grid order, so every chart gives a method the same colour and panels the same order. */
interface Order {
  methods: string[];
  panels: string[];
}

function gridOrder(data: GridData): Order {
  return { methods: [...new Set(data.runs.map((r) => r.method))], panels: [...new Set(data.runs.map(panel))] };
}

/** vega's category10: the colour of the i-th method of the grid, in every chart. */
const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
export const methodColour = (order: Order, method: string) => PALETTE[Math.max(0, order.methods.indexOf(method)) % PALETTE.length]!;

/**
 * The method colour encoding of a chart whose data holds `present` methods: the legend lists only
 * those (a MetaQuant-only chart does not list ste), each in its grid-wide colour.
 */
function colorOf(order: Order, present: readonly string[] = order.methods) {
  const domain = order.methods.filter((m) => present.includes(m));
  // symbolOpacity 1: the legend's swatches would otherwise take the pale band's opacity, not the lines' colour.
  return { field: 'method', type: 'nominal' as const, title: 'method', scale: { domain, range: domain.map((m) => methodColour(order, m)) }, sort: domain, legend: { symbolOpacity: 1 } };
}

/**
 * Mean line with a min–max band over seeds, per method, one panel per quantizer × optimizer; the
 * epochs that unfinished runs have finished so far as dashed lines, one per run (not in the mean).
 */
function curveChart(data: GridData, order: Order, m: CurveMetric, caption: string): Chart | undefined {
  const values: Array<Record<string, string | number>> = [];
  for (const cell of groupByCell(data.finished)) {
    for (const p of curve(cell, m.key)) {
      const first = cell[0]!;
      values.push({ kind: 'mean', method: first.method, panel: panel(first), epoch: p.epoch, mean: p.mean * m.scale, lo: p.min * m.scale, hi: p.max * m.scale, n: p.n });
    }
  }
  const partial = unfinishedPoints(data, m);
  values.push(...partial);
  if (values.length === 0) return undefined;
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1 } };
  const color = colorOf(order, [...new Set(values.map((v) => String(v.method)))]);
  const kind = (k: string) => ({ filter: `datum.kind === '${k}'` });
  const dashed = partial.length === 0 ? [] : [
    {
      transform: [kind('unfinished')],
      mark: { type: 'line' as const, strokeDash: [5, 4], point: { filled: false } },
      encoding: { x, y: { field: 'mean', type: 'quantitative' as const, title: m.axis, scale: { zero: false } }, color, detail: { field: 'run', type: 'nominal' as const } },
    },
  ];
  return {
    name: m.name,
    title: m.title,
    caption: partial.length === 0 ? caption : `${caption} Dashed, hollow points: runs not finished yet, each run's epochs so far (not in the mean or band).`,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      data: { values },
      facet: { field: 'panel', type: 'nominal', title: null, sort: order.panels, header: { labelFontSize: 12 } },
      columns: 2,
      spec: {
        width: PANEL_WIDTH,
        height: PANEL_HEIGHT,
        layer: [
          { transform: [kind('mean')], mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: m.axis, scale: { zero: false } }, y2: { field: 'hi' }, color } },
          { transform: [kind('mean')], mark: { type: 'line', point: true }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: m.axis, scale: { zero: false } }, color } },
          ...dashed,
        ],
      },
      resolve: { scale: { y: 'independent' } },
    } as TopLevelSpec,
  };
}

/** Per epoch that an unfinished run finished: its value (in `mean`, the field the y axis reads), marked kind 'unfinished'. */
function unfinishedPoints(data: GridData, m: CurveMetric): Array<Record<string, string | number>> {
  const points: Array<Record<string, string | number>> = [];
  for (const u of data.unfinished) {
    for (const h of u.history) {
      const v = h[m.key];
      if (typeof v === 'number' && Number.isFinite(v)) points.push({ kind: 'unfinished', method: u.run.method, panel: panel(u.run), run: u.run.id, epoch: h.epoch, mean: v * m.scale });
    }
  }
  return points;
}

/** Final test accuracy per cell: bar = mean over seeds, error bar = ± one sample std. */
function summaryBarChart(rows: readonly SummaryRow[], order: Order): Chart | undefined {
  if (rows.length === 0) return undefined;
  const values = rows.map((r) => ({
    method: r.method,
    panel: panel(r),
    mean: r.finalMean * 100,
    lo: (r.finalMean - (r.finalStd ?? 0)) * 100,
    hi: (r.finalMean + (r.finalStd ?? 0)) * 100,
    n: r.n,
  }));
  const x = { field: 'method', type: 'nominal' as const, title: null, sort: order.methods, axis: { labelAngle: -30, labelLimit: 180 } };
  return {
    name: 'final-accuracy',
    title: 'Final test accuracy (mean ± sample std over seeds)',
    caption: 'Bars: mean over seeds of each run’s test accuracy after its last epoch; error bars: ± one sample standard deviation (n − 1; none when n = 1).',
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      data: { values },
      facet: { field: 'panel', type: 'nominal', title: null, sort: order.panels },
      columns: 2,
      spec: {
        width: PANEL_WIDTH,
        height: PANEL_HEIGHT,
        layer: [
          { mark: { type: 'bar', opacity: 0.85 }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'final test accuracy (%)' }, color: { ...colorOf(order, rows.map((r) => r.method)), legend: null } } },
          { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color: { value: 'black' } } },
          { mark: { type: 'tick', thickness: 1.5, width: 10 }, encoding: { x, y: { field: 'hi', type: 'quantitative' }, color: { value: 'black' } } },
          { mark: { type: 'tick', thickness: 1.5, width: 10 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, color: { value: 'black' } } },
        ],
      },
    } as TopLevelSpec,
  };
}

export function gridCharts(data: GridData, rows: readonly SummaryRow[]): Chart[] {
  const band = 'Line: mean over seeds; band: min–max over seeds.';
  const order = gridOrder(data);
  const charts = [
    ...LEARNING_CURVES.map((m) => curveChart(data, order, m, `${band} ${m.key === 'testAccuracy' ? 'Test accuracy after each epoch.' : 'Mean training loss of each epoch.'}`)),
    summaryBarChart(rows, order),
    ...META_CURVES.map((m) =>
      curveChart(
        data,
        order,
        m,
        `${band} MetaQuant runs only. ` +
          (m.key === 'metaC'
            ? 'Effective c: a linear meta network (fcgrad or multifc without activation) maps a gradient g to c·g; c is the product of its weights, averaged over the epoch’s steps (not defined for lstm).'
            : 'Cosine similarity between the meta network’s calibrated gradient and the plain STE gradient, averaged over the epoch’s steps.'),
      ),
    ),
  ];
  return charts.filter((c): c is Chart => c !== undefined);
}

/** Compiles a vega-lite spec and renders it to an SVG string, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
