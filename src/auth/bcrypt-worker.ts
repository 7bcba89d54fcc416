import { parentPort } from 'node:worker_threads';
import bcrypt from 'bcryptjs';

/**
 * A worker thread of the bcrypt pool (bcrypt-pool.ts): bcrypt is deliberately
 * slow (about 70 ms at cost 10), so it never runs on the event loop that
 * answers requests and health probes.
 */
type Task = { id: number; op: 'compare'; password: string; hash: string } | { id: number; op: 'hash'; password: string; cost: number };

parentPort?.on('message', (task: Task) => {
  try {
    const result = task.op === 'compare' ? bcrypt.compareSync(task.password, task.hash) : bcrypt.hashSync(task.password, task.cost);
    parentPort?.postMessage({ id: task.id, result });
  } catch (err) {
    parentPort?.postMessage({ id: task.id, error: (err as Error).message });
  }
});
