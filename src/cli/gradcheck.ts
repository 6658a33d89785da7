import { Command, InvalidArgumentError } from 'commander';
import { gradcheck, type GradcheckReport } from '../analysis/gradcheck.js';
import { addTrainFlags, configFromFlags } from '../config/flags.js';
import { parseInteger, parseNumber } from './options.js';
import { gradcheckProgress } from './gradcheck-progress.js';

function parseNumberList(value: string): number[] {
  const list = value.split(',').map((v) => parseNumber(v.trim()));
  if (list.length === 0) throw new InvalidArgumentError('expected a comma-separated list of numbers');
  return list;
}

/** Defaults that keep one gradcheck short where the train defaults would not. */
const GRADCHECK_DEFAULTS: Record<string, unknown> = { method: 'metaquant', hidden: [32] };

export function gradcheckCommand(): Command {
  const cmd = new Command('gradcheck').description(
    "what ∂L/∂φ is: the chain from φ to the loss, the φ-gradient the step applies against finite differences of the objective its φ-path differentiates (STE surrogate, or Eq. 8's), " +
      'and finite differences of the true quantized loss (piecewise constant in φ); takes the train flags (default: metaquant, mlp --hidden 32, bundled mnist)',
  );
  addTrainFlags(cmd, { showDefaults: true })
    .option('--warmup-steps <n>', 'ordinary MetaQuant steps before the probed batch (≥ 1)', parseInteger, 1)
    .option('--fd-step <h>', "(b): central-difference step, relative to each phi tensor's RMS", parseNumber, 1e-1)
    .option('--quantized-steps <list>', "(c): steps for the quantized loss, relative to each phi tensor's RMS", parseNumberList, [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
    .option('--coordinates <n>', 'phi coordinates checked per tensor (seeded choice)', parseInteger, 8)
    .option('--json', 'print one JSON object', false)
    .option('--quiet', 'no progress on stderr', false)
    .action(async (o: Record<string, unknown>, command: Command) => {
      const config = { ...GRADCHECK_DEFAULTS, ...configFromFlags(command) };
      const progress = gradcheckProgress(Boolean(o.quiet));
      let report: GradcheckReport;
      try {
        report = await gradcheck({
          config,
          warmupSteps: o.warmupSteps as number,
          fdStep: o.fdStep as number,
          quantizedSteps: o.quantizedSteps as number[],
          coordinates: o.coordinates as number,
          onProgress: progress.onProgress,
        });
      } finally {
        progress.stop();
      }
      process.stdout.write(o.json ? JSON.stringify(report) + '\n' : formatReport(report));
    });
  return cmd;
}

const fmt = (x: number | null) => (x === null ? '–' : Number.isNaN(x) ? 'NaN' : x === 0 ? '0' : x.toExponential(3));

export function formatReport(r: GradcheckReport): string {
  const lines: string[] = [];
  lines.push(`setup: ${Object.entries(r.setup).map(([k, v]) => `${k} ${v}`).join(', ')}`, '', '(a) the chain from φ to the loss');
  for (const f of r.chain.formula) lines.push(`  ${f}`);
  lines.push('  factor norms (all quantized kernels):');
  for (const t of r.chain.terms) lines.push(`    ${t.symbol.padEnd(30)} ${fmt(t.norm).padStart(10)}  ${t.meaning}`);
  lines.push(`  ‖∂L/∂φ‖ as the step applies it: ${Object.entries(r.chain.autodiffNorms).map(([k, v]) => `${k} ${fmt(v)}`).join(', ')}`, '');
  const objective = r.surrogate.objective === 'eq8' ? "Eq. 8's objective Σ M_t⊙A′⊙(W_meta(φ) − W_meta(φ₀))" : 'the STE surrogate';
  lines.push(`(b) the step's applied ∂L/∂φ vs central differences of ${objective} (step ${r.surrogate.fdStep} × RMS)`);
  lines.push(`    ${'tensor'.padEnd(22)} ${'checked'.padStart(9)} ${'rel.err'.padStart(10)} ${'cosine'.padStart(8)} ${'‖applied‖'.padStart(10)} ${'‖fd‖'.padStart(10)} ${'roundoff'.padStart(10)} ${'dir.rel.err'.padStart(11)}`);
  for (const t of r.surrogate.tensors) {
    lines.push(`    ${t.tensor.padEnd(22)} ${`${t.checked}/${t.size}`.padStart(9)} ${fmt(t.relativeError).padStart(10)} ${(Number.isNaN(t.cosine) ? 'NaN' : t.cosine.toFixed(5)).padStart(8)} ${fmt(t.autodiffNorm).padStart(10)} ${fmt(t.fdNorm).padStart(10)} ${fmt(t.roundoffFloor).padStart(10)} ${fmt(t.directional.relativeError).padStart(11)}`);
  }
  lines.push('', '(c) central differences of the true quantized loss (step × RMS)');
  lines.push(`    ${'step'.padStart(8)} ${'diffs'.padStart(6)} ${'zero'.padStart(7)} ${'max|ΔL|'.padStart(10)} ${'max|ΔL|/2h'.padStart(11)}`);
  for (const q of r.quantized) lines.push(`    ${q.step.toExponential(0).padStart(8)} ${String(q.differences).padStart(6)} ${`${(q.zeroFraction * 100).toFixed(0)}%`.padStart(7)} ${fmt(q.maxAbsDifference).padStart(10)} ${fmt(q.maxAbsSlope).padStart(11)}`);
  if (r.notes.length) lines.push('', 'notes:', ...r.notes.map((n) => `  ${n}`));
  return lines.join('\n') + '\n';
}
