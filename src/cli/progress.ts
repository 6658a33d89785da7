import cliProgress from 'cli-progress';
import type { TrainCallbacks, EpochMetrics } from '../train/trainer.js';

function formatMetrics(m: EpochMetrics): string {
  const extra = ['metaC', 'cosMetaSte', 'flipRatio']
    .filter((k) => typeof m[k] === 'number')
    .map((k) => `${k} ${m[k]!.toPrecision(3)}`)
    .join('  ');
  return (
    `epoch ${m.epoch}  train loss ${m.trainLoss.toFixed(4)} acc ${(m.trainAccuracy * 100).toFixed(2)}%  ` +
    (typeof m.valAccuracy === 'number' ? `val acc ${(m.valAccuracy * 100).toFixed(2)}%  ` : '') +
    `test loss ${m.testLoss.toFixed(4)} acc ${(m.testAccuracy * 100).toFixed(2)}%  ` +
    `${m.imagesPerSecond.toFixed(0)} img/s  ${m.seconds.toFixed(1)} s${extra ? '  ' + extra : ''}`
  );
}

/**
 * Training progress on stderr: a live bar per epoch (loss, accuracy, images/s, ETA) on a
 * terminal, one plain line per epoch otherwise (logs, CI, pipes).
 */
export function progressCallbacks(totalEpochs: number, quiet: boolean): TrainCallbacks {
  const onNonFinite = (message: string) => process.stderr.write(`metaquant: ${message}\n`);
  const onWarning = onNonFinite;
  if (quiet) return { onNonFinite, onWarning };
  if (!process.stderr.isTTY) {
    return { onEpochEnd: (m) => process.stderr.write(formatMetrics(m) + '\n'), onNonFinite, onWarning };
  }
  let bar: cliProgress.SingleBar | undefined;
  return {
    onEpochStart(epoch, batches) {
      bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: `epoch ${epoch + 1}/${totalEpochs} |{bar}| {value}/{total} loss {loss} acc {acc}% {ips} img/s ETA {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(batches, 0, { loss: '-', acc: '-', ips: '-' });
    },
    onBatch(p) {
      bar?.update(p.batch + 1, { loss: p.loss.toFixed(4), acc: (p.accuracy * 100).toFixed(2), ips: p.imagesPerSecond.toFixed(0) });
    },
    onNonFinite,
    onWarning(message) {
      bar?.stop();
      process.stderr.write(`metaquant: ${message}\n`);
    },
    onEpochEnd(m) {
      bar?.stop();
      process.stderr.write(formatMetrics(m) + '\n');
    },
  };
}
