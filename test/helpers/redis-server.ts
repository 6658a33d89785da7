// A real redis-server for the queue tests: on a free 127.0.0.1 port, its files (append-only log)
// in a temporary folder, an ACL user with a password and the default user disabled, so the tests
// go through authentication as a deployment would. restart() stops it (SHUTDOWN saves) and starts
// it again on the same port and files.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REDIS_USER = 'mq-test';

/** Whether redis-server is installed (Debian package redis-server; .ci/run installs it). */
export function haveRedis(): boolean {
  return spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

export class TestRedis {
  private process?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'mq-redis-'));
  readonly password = `pw-${Math.random().toString(36).slice(2)}-secret`;
  port = 0;

  /** The queue URL, password included (what a user passes to --queue). */
  get url(): string {
    return `redis://${REDIS_USER}:${this.password}@127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort();
    const args = [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
      '--user', 'default', 'off', '--user', REDIS_USER, 'on', `>${this.password}`, '~*', '&*', '+@all',
    ];
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (s: string) => {
        output += s;
        if (output.includes('Ready to accept connections')) resolve();
      };
      child.stdout!.setEncoding('utf8').on('data', onData);
      child.stderr!.setEncoding('utf8').on('data', onData);
      child.on('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${output}`)));
    });
  }

  /** SIGTERM: Redis writes its append-only log and exits. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}
