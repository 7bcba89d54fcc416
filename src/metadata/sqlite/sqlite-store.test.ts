import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { MetadataStore } from '../store.js';
import { runMetadataSuite } from '../store-suite.js';
import { runContentSuite } from '../content-suite.js';
import { runUploadSuite } from '../upload-suite.js';
import { runLeaseSuite } from '../lease-suite.js';
import { runIdentitySuite } from '../identity-suite.js';
import { runAuditSuite } from '../audit-suite.js';
import { runTrustSuite } from '../trust-suite.js';
import { runLoginAttemptSuite } from '../login-attempt-suite.js';
import { runPolicySuite } from '../policy-suite.js';
import { SqliteStore } from './sqlite-store.js';

// Every suite opens a database file of its own.
const dirs = new Map<MetadataStore, string>();
for (const run of [runMetadataSuite, runContentSuite, runUploadSuite, runLeaseSuite, runIdentitySuite, runAuditSuite, runTrustSuite, runLoginAttemptSuite, runPolicySuite]) {
  run({
    name: 'sqlite (file, WAL)',
    async create() {
      const dir = await mkdtemp(path.join(tmpdir(), 'berth-sqlite-'));
      const store = new SqliteStore({ path: path.join(dir, 'berth.db') });
      dirs.set(store, dir);
      return store;
    },
    async teardown(store) {
      await store.close();
      await rm(dirs.get(store) ?? '', { recursive: true, force: true });
      dirs.delete(store);
    },
  });
}
