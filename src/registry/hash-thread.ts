// The hashing thread of stream-hash.ts: keeps one running hash per id and
// feeds it the shared blocks the main thread names, so an upload's digest
// costs the event loop a copy per MiB instead of the hashing itself.
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { FromHashThread, ToHashThread } from './stream-hash.js';

const port = parentPort;
if (!port) throw new Error('hash-thread.js runs as a worker thread only');

const hashes = new Map<number, Hash>();

function send(message: FromHashThread): void {
  port?.postMessage(message);
}

port.on('message', (m: ToHashThread) => {
  try {
    switch (m.op) {
      case 'open':
        hashes.set(m.id, createHash(m.algorithm));
        break;
      case 'data': {
        const hash = hashes.get(m.id);
        // The block goes back in any case; an unknown id (dropped meanwhile) needs no hashing.
        hash?.update(new Uint8Array(m.block, 0, m.length));
        send({ op: 'ack', id: m.id, index: m.index });
        break;
      }
      case 'digest': {
        const hash = hashes.get(m.id);
        if (!hash) throw new Error(`no hash ${m.id}`);
        hashes.delete(m.id);
        send({ op: 'digest', id: m.id, hex: hash.digest('hex') });
        break;
      }
      case 'drop':
        hashes.delete(m.id);
        break;
    }
  } catch (err) {
    hashes.delete(m.id);
    send({ op: 'error', id: m.id, message: (err as Error).message });
  }
});
