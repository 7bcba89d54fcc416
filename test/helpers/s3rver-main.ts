/**
 * Runs s3rver (the S3-compatible test server, a devDependency) as a child
 * process, with one fix: s3rver 3.7's ListObjects with a delimiter loses the
 * common prefix of keys three or more levels below the prefix ("a/b/c/d"
 * listed under "a/" shows no "a/b/"), which real S3, MinIO and Ceph report.
 * The fix lists without a delimiter and folds the keys into common prefixes.
 *
 * Usage: node s3rver-main.js DIR PORT BUCKET
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem');

interface Listed { objects: Array<{ key: string }>; commonPrefixes: string[]; isTruncated: boolean }
type ListOptions = { delimiter?: string; prefix?: string; maxKeys?: number; startAfter?: string };

const original = FilesystemStore.prototype.listObjects as (this: unknown, bucket: string, o: ListOptions) => Promise<Listed>;
FilesystemStore.prototype.listObjects = async function listObjects(this: unknown, bucket: string, options: ListOptions): Promise<Listed> {
  const { delimiter = '', prefix = '', maxKeys = Infinity } = options;
  if (!delimiter) return original.call(this, bucket, options);
  const all = await original.call(this, bucket, { ...options, delimiter: '', maxKeys: Infinity });
  const prefixes = new Set<string>();
  const objects: Array<{ key: string }> = [];
  let isTruncated = false;
  for (const o of all.objects) {
    const idx = o.key.slice(prefix.length).indexOf(delimiter);
    if (idx !== -1) prefixes.add(o.key.slice(0, prefix.length + idx + delimiter.length));
    else if (objects.length < maxKeys) objects.push(o);
    else isTruncated = true;
  }
  return { objects, commonPrefixes: [...prefixes].sort(), isTruncated };
};

const [directory, port, bucket] = process.argv.slice(2);
if (!directory || !port || !bucket) {
  process.stderr.write('usage: s3rver-main DIR PORT BUCKET\n');
  process.exit(2);
}
const server = new S3rver({ directory, port: Number(port), address: '127.0.0.1', silent: true, vhostBuckets: false, configureBuckets: [{ name: bucket, configs: [] }] });
await server.run();
