import { Command } from 'commander';
import { dirname, join, resolve } from 'node:path';
import { statSync, existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { useBackend, BACKENDS, type BackendName } from '../engine/backend.js';
import { buildDemo } from '../demo/build.js';
import { serveStatic } from '../demo/serve.js';
import { UsageError } from '../util/errors.js';
import { choiceOption, parseInteger } from './options.js';

export function demoCommand(): Command {
  return new Command('demo')
    .description('build a browser page that runs the packed model on drawn digits and test images, and serve it on localhost')
    .requiredOption('--checkpoint <path>', 'run folder or checkpoint file')
    .option('--port <n>', 'port to serve on (0 picks a free one)', parseInteger, 5173)
    .option('--out <dir>', 'where to build the page (default: RUN/demo)')
    .option('--build-only', 'build the page and exit without serving', false)
    .addOption(choiceOption('--backend <name>', 'TensorFlow.js backend used to quantize', BACKENDS, 'wasm'))
    .action(async (o: Record<string, unknown>) => {
      const checkpoint = String(o.checkpoint);
      const port = o.port as number;
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0..65535, got ${port}`);
      const runDir = existsSync(checkpoint) && statSync(checkpoint).isDirectory() ? checkpoint : dirname(checkpoint);
      const outDir = resolve((o.out as string | undefined) ?? join(runDir, 'demo')); // against the working folder
      await useBackend(o.backend as BackendName);
      const built = await buildDemo({ checkpoint, outDir });
      process.stdout.write(`built the demo in ${outDir} (packed model ${built.modelBytes} bytes, ${built.samples} test images)\n`);
      if (built.samplesSkipped) process.stderr.write(`metaquant demo: no test images: ${built.samplesSkipped}\n`);
      if (o.buildOnly) return;
      const server = await serveStatic(outDir, port).catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'EADDRINUSE') throw new UsageError(`port ${port} is in use; pass --port with another port (0 picks a free one)`);
        throw err;
      });
      process.stdout.write(`serving http://127.0.0.1:${(server.address() as AddressInfo).port}/ (Ctrl-C to stop)\n`);
      await new Promise<void>((resolve) => {
        const stop = () => server.close(() => resolve());
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
