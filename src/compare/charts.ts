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
const PANEL_WIDTH = 260;
const PANEL_HEIGHT = 170;

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

const colorOf = (order: Order) => ({ field: 'method', type: 'nominal' as const, title: 'method', scale: { domain: order.methods }, sort: order.methods });

/** Mean line with a min–max band over seeds, per method, one panel per quantizer × optimizer. */
function curveChart(data: GridData, order: Order, m: CurveMetric, caption: string): Chart | undefined {
  const values: Array<Record<string, string | number>> = [];
  for (const cell of groupByCell(data.finished)) {
    for (const p of curve(cell, m.key)) {
      const first = cell[0]!;
      values.push({ method: first.method, panel: panel(first), epoch: p.epoch, mean: p.mean * m.scale, lo: p.min * m.scale, hi: p.max * m.scale, n: p.n });
    }
  }
  if (values.length === 0) return undefined;
  const x = { field: 'epoch', type: 'quantitative' as const, title: 'epoch', axis: { tickMinStep: 1 } };
  const color = colorOf(order);
  return {
    name: m.name,
    title: m.title,
    caption,
    spec: {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      data: { values },
      facet: { field: 'panel', type: 'nominal', title: null, sort: order.panels, header: { labelFontSize: 12 } },
      columns: 2,
      spec: {
        width: PANEL_WIDTH,
        height: PANEL_HEIGHT,
        layer: [
          { mark: { type: 'area', opacity: 0.18 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: m.axis, scale: { zero: false } }, y2: { field: 'hi' }, color } },
          { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: m.axis, scale: { zero: false } }, color } },
        ],
      },
      resolve: { scale: { y: 'independent' } },
    } as TopLevelSpec,
  };
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
        width: { step: 36 },
        height: PANEL_HEIGHT,
        layer: [
          { mark: { type: 'bar', opacity: 0.85 }, encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'final test accuracy (%)' }, color: { ...colorOf(order), legend: null } } },
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
