import { mkdtemp, rm, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runDriverSuite } from '../driver-suite.js';
import { FilesystemDriver } from './filesystem.js';

let dir = '';
runDriverSuite({
  name: 'filesystem',
  async create() {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-fs-'));
    return new FilesystemDriver({ rootDirectory: dir });
  },
  async teardown() {
    // Deleted objects must not leave empty folders or temporary files behind.
    assert.deepEqual(await readdir(dir), []);
    await rm(dir, { recursive: true, force: true });
  },
});

test('filesystem driver keeps no temporary file after putContent', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'berth-fs-'));
  const d = new FilesystemDriver({ rootDirectory: root });
  await d.init();
  await d.putContent('/a/b', Buffer.from('x'));
  assert.deepEqual(await readdir(path.join(root, 'a')), ['b']);
  await rm(root, { recursive: true, force: true });
});
