import { randomUUID } from 'node:crypto';
import type { LeaseStore } from '../metadata/index.js';

/** What a job may log; a pino logger fits. */
export interface JobLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface JobSchedulerOptions {
  /** The store every Berth instance shares; its leases decide who runs a job. */
  leases: Pick<LeaseStore, 'acquire'>;
  logger: JobLogger;
  /** Lease owner name (default: a fresh id for this process). */
  owner?: string;
  now?: () => number;
}

interface Job {
  name: string;
  intervalMs: number;
  run: () => Promise<void>;
  timer: NodeJS.Timeout | null;
}

/**
 * Background work that must run once per interval across all instances
 * (upload purging now; garbage collection, replication, scanning and
 * webhook delivery later). Every instance ticks; the one that takes the
 * job's lease in the shared metadata store runs it and keeps the lease for
 * most of the interval, so the others skip. If that instance dies, the lease
 * expires and another takes over at its next tick. No protocol between
 * instances: PostgreSQL (or, alone, SQLite) is the only coordinator.
 */
export class JobScheduler {
  private readonly jobs = new Map<string, Job>();
  private readonly owner: string;
  private readonly now: () => number;
  private readonly running = new Set<Promise<unknown>>();
  private stopped = false;
  private ticks = 0;

  constructor(private readonly options: JobSchedulerOptions) {
    this.owner = options.owner ?? randomUUID();
    this.now = options.now ?? Date.now;
  }

  /** Registers a job; it first runs after one interval. */
  every(name: string, intervalMs: number, run: () => Promise<void>): void {
    if (this.jobs.has(name)) throw new Error(`job ${name} is already scheduled`);
    const job: Job = { name, intervalMs, run, timer: null };
    job.timer = setInterval(() => { void this.tick(name); }, intervalMs);
    job.timer.unref();
    this.jobs.set(name, job);
  }

  /**
   * Runs the job now if this instance gets its lease. Returns whether it ran.
   * A failing job is logged, not thrown: the next interval tries again.
   */
  async tick(name: string): Promise<boolean> {
    const job = this.jobs.get(name);
    if (!job || this.stopped) return false;
    const now = this.now();
    // Hold the lease for 90% of the interval: the next tick anywhere can take it.
    let leased: boolean;
    try {
      // A fresh owner name per tick: an instance's own unexpired lease is not
      // a renewal here, so it does not run the job twice in one interval.
      leased = await this.options.leases.acquire(`job/${name}`, `${this.owner}#${++this.ticks}`, now + Math.floor(job.intervalMs * 0.9), now);
    } catch (err) {
      this.options.logger.error({ err, job: name }, 'failed to take a job lease');
      return false;
    }
    if (!leased) return false;
    const run = job.run().catch((err: unknown) => this.options.logger.error({ err, job: name }, 'job failed'));
    this.running.add(run);
    try {
      await run;
    } finally {
      this.running.delete(run);
    }
    return true;
  }

  /** Stops the timers and waits for jobs in progress. */
  async close(): Promise<void> {
    this.stopped = true;
    for (const job of this.jobs.values()) if (job.timer) clearInterval(job.timer);
    await Promise.allSettled([...this.running]);
  }
}
