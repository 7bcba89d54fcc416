import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runMetadataSuite } from '../store-suite.js';
import { runIdentitySuite } from '../identity-suite.js';
import { SqliteStore } from './sqlite-store.js';

let dir = '';
runMetadataSuite({
  name: 'sqlite (file, WAL)',
  async create() {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-sqlite-'));
    return new SqliteStore({ path: path.join(dir, 'berth.db') });
  },
  async teardown() {
    await rm(dir, { recursive: true, force: true });
  },
});

let identityDir = '';
runIdentitySuite({
  name: 'sqlite (file, WAL)',
  async create() {
    identityDir = await mkdtemp(path.join(tmpdir(), 'berth-sqlite-id-'));
    return new SqliteStore({ path: path.join(identityDir, 'berth.db') });
  },
  async teardown() {
    await rm(identityDir, { recursive: true, force: true });
  },
});
