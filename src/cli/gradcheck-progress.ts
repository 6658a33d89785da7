import cliProgress from 'cli-progress';
import type { GradcheckProgress } from '../analysis/gradcheck.js';

/**
 * gradcheck's progress on stderr (stdout keeps the report, or the one --json object): a bar per
 * stage on a terminal, otherwise one line when a stage starts and one when it ends.
 */
export function gradcheckProgress(quiet: boolean): { onProgress(p: GradcheckProgress): void; stop(): void } {
  if (quiet) return { onProgress: () => {}, stop: () => {} };
  let stage: string | undefined;
  let started = 0;
  let bar: cliProgress.SingleBar | undefined;
  const tty = Boolean(process.stderr.isTTY);
  const end = () => {
    bar?.stop();
    bar = undefined;
  };
  return {
    onProgress(p) {
      if (p.stage !== stage) {
        end();
        stage = p.stage;
        started = performance.now();
        if (tty) {
          bar = new cliProgress.SingleBar(
            { stream: process.stderr, format: `gradcheck: ${p.stage} |{bar}| {value}/{total} ETA {eta_formatted}`, hideCursor: true, clearOnComplete: false },
            cliProgress.Presets.shades_classic,
          );
          bar.start(p.total, p.done);
        } else process.stderr.write(`gradcheck: ${p.stage}: 0/${p.total}\n`);
      }
      bar?.update(p.done);
      if (!tty && p.done === p.total && p.total > 0) process.stderr.write(`gradcheck: ${p.stage}: ${p.done}/${p.total} done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
    },
    stop: end,
  };
}
