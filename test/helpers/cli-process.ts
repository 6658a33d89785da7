// A `metaquant` CLI process for end-to-end tests, whose output a test can wait on line by line
// (events, not sleeps: the machine may be loaded).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

export const MAIN = resolve('dist/src/cli/main.js');

export class CliProcess {
  readonly child: ChildProcess;
  output = '';
  /** Each complete line of output with when it arrived (performance.now(), this process's clock). */
  readonly timeline: Array<{ at: number; line: string }> = [];
  readonly exited: Promise<number | null>;
  private readonly waiters: Array<{ pattern: RegExp; resolve(m: RegExpMatchArray): void; from: number }> = [];

  constructor(readonly label: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const partial = { stdout: '', stderr: '' };
    const onData = (s: string, stream: 'stdout' | 'stderr') => {
      this.output += s;
      const lines = (partial[stream] + s).split('\n');
      partial[stream] = lines.pop()!;
      const at = performance.now();
      for (const line of lines) this.timeline.push({ at, line });
      for (const w of [...this.waiters]) {
        const m = this.output.slice(w.from).match(w.pattern);
        if (m) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    };
    this.child.stdout!.setEncoding('utf8').on('data', (s: string) => onData(s, 'stdout'));
    this.child.stderr!.setEncoding('utf8').on('data', (s: string) => onData(s, 'stderr'));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }

  /** Resolves with the first match of `pattern` in the output (from `from` on); rejects if the process exits first or after timeoutMs. */
  waitFor(pattern: RegExp, timeoutMs = 180_000, from = 0): Promise<RegExpMatchArray> {
    const now = this.output.slice(from).match(pattern);
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.label}: no output matching ${pattern} within ${timeoutMs / 1000} s; output:\n${this.output}`)), timeoutMs);
      this.waiters.push({ pattern, from, resolve: (m) => (clearTimeout(timer), resolve(m)) });
      void this.exited.then((code) => {
        clearTimeout(timer);
        const m = this.output.slice(from).match(pattern);
        if (m) resolve(m);
        else reject(new Error(`${this.label} exited (${code}) before printing ${pattern}; output:\n${this.output}`));
      });
    });
  }

  /** Lines of the output matching a pattern. */
  lines(pattern: RegExp): string[] {
    return this.output.split('\n').filter((l) => pattern.test(l));
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Polls a condition on files (written by other processes) until it holds; for file-system state only. */
export async function until(what: string, check: () => boolean, timeoutMs = 180_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const exists = existsSync;
