// A worker's exclusive right to train one run and to report it: its lease on BullMQ's job lock.
//
// Why this exists: BullMQ is at-least-once. A job's lock (key <prefix>:<queue>:<job id>:lock, set to
// the token of the worker that took the job) lives lockDuration after its last renewal. When renewals
// stop reaching Redis for that long (a worker killed, a network cut, or a Redis restart longer than
// the lock: the lock's expiry time survives in the append-only log), the lock expires and the next
// stalled-job check hands the job to another worker. BullMQ tells the first worker only afterwards
// (a renewal or completion refused once it can talk to Redis again), so by itself the first worker
// trains on beside the second, publishes checkpoints over the second's and reports a result too.
//
// What the lease guarantees: the stalled check moves only jobs whose lock key is gone, and a renewal
// keeps the key for lockMs from when Redis ran it, which is after this worker sent it. So the run is
// certainly this worker's until `validUntil` = send time of the last confirmed renewal + lockMs
// (measured on this process's monotonic clock). The worker renews every lockMs/4 and
//   - a renewal answered "not your lock": the lease is lost; training is killed at once;
//   - no renewal confirmed with a quarter of the lease left (Redis unreachable): the training child
//     is asked to checkpoint and stop; with a tenth left it is killed. Training never outlives the
//     lease, so two workers never train a run at the same time;
//   - files are published and a result is reported only right after a confirmed renewal (`confirm`),
//     with at least a third of the lease left; through Redis the publish also checks the lock's
//     token in the same script (artifacts.ts).
import type { Job } from 'bullmq';
import { MetaquantError } from '../util/errors.js';

/** The run's lock went to another worker (or expired): this worker must not touch the run again. */
export class LeaseLostError extends MetaquantError {}

export interface LeaseHooks {
  /** No renewal confirmed for 3/4 of the lock's duration: checkpoint and stop training. */
  doubt(): void;
  /** A tenth of the lease left, or the lease lost: stop training now (SIGKILL). */
  expiring(): void;
}

export class RunLease {
  private validUntil = 0;
  private lost?: string;
  private renewing?: Promise<boolean>;
  private timers: NodeJS.Timeout[] = [];
  private interval?: NodeJS.Timeout;
  private hooks?: LeaseHooks;
  private ended = false;
  /** Whether the training was stopped because the lease could not be confirmed in time. */
  doubted = false;

  constructor(
    private readonly job: Job,
    private readonly token: string,
    private readonly lockMs: number,
  ) {}

  /** Why the lease was lost, or undefined while it is held. */
  get lostReason(): string | undefined {
    return this.lost;
  }

  /** Sends one renewal; resolves when Redis answered (commands wait while it reconnects): true = still ours. */
  renew(): Promise<boolean> {
    const sent = performance.now();
    return this.job.extendLock(this.token, this.lockMs).then((ok) => {
      if (ok !== 1) {
        this.lose('its lock expired or went to another worker (presumed dead while Redis was unreachable or this machine stalled)');
        return false;
      }
      if (this.lost === undefined && sent + this.lockMs > this.validUntil) {
        this.validUntil = sent + this.lockMs;
        this.arm();
      }
      return this.lost === undefined;
    });
  }

  /**
   * Resolves once a fresh renewal confirmed the lease with at least a third of it left: what follows
   * at once (a publish, the result) happens while no other worker can hold the run. Throws
   * LeaseLostError when the lock is no longer this worker's.
   */
  async confirm(): Promise<void> {
    for (;;) {
      if (this.lost !== undefined) throw new LeaseLostError(`${this.job.id}: ${this.lost}`);
      if ((await this.renew()) && this.left() > this.lockMs / 3) return;
      if (this.lost === undefined) await new Promise((r) => setTimeout(r, 50)); // a late answer: ask again
    }
  }

  /** Starts renewing every lockMs/4 and arms the stop/kill deadlines; `confirm` must have succeeded. */
  watch(hooks: LeaseHooks): void {
    this.hooks = hooks;
    const every = setInterval(() => {
      if (this.renewing || this.ended) return;
      this.renewing = this.renew().catch(() => false); // Redis away: the deadlines decide
      void this.renewing.finally(() => (this.renewing = undefined));
    }, this.lockMs / 4);
    every.unref();
    this.interval = every;
    this.arm();
  }

  /** Another signal that the lock may be gone (BullMQ's lockRenewalFailed): find out now. */
  check(): void {
    if (!this.ended) this.renew().catch(() => {});
  }

  /** The run is over for this worker (reported, handed back or abandoned): no more renewals. */
  end(): void {
    this.ended = true;
    clearInterval(this.interval);
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  private left(): number {
    return this.validUntil - performance.now();
  }

  private lose(why: string): void {
    if (this.lost !== undefined) return;
    this.lost = why;
    if (!this.ended) this.hooks?.expiring();
  }

  /** (Re)sets the two deadlines of the current lease. */
  private arm(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
    if (!this.hooks || this.ended || this.lost !== undefined) return;
    const at = (fractionLeft: number, act: () => void) => {
      const t = setTimeout(act, Math.max(0, this.left() - this.lockMs * fractionLeft));
      t.unref();
      this.timers.push(t);
    };
    at(1 / 4, () => {
      this.doubted = true;
      this.hooks?.doubt();
    });
    at(1 / 10, () => this.hooks?.expiring());
  }
}
