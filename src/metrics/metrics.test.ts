import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BerthMetrics, type GcRunSummary } from './metrics.js';

/** The value of one series in the exposition text (the line must exist). */
function series(text: string, line: string): number {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  assert.ok(found, `no series ${line}`);
  return Number(found.slice(line.length + 1));
}

describe('BerthMetrics', () => {
  it('counts a failed GC run as failed, rethrows its error, and counts nothing as freed', async () => {
    const metrics = new BerthMetrics({ processMetrics: false });
    const failing = { run: async (_o: { dryRun: boolean }): Promise<GcRunSummary> => { throw new Error('lease taken'); } };
    await assert.rejects(metrics.countGcRuns(failing).run({ dryRun: false }), /lease taken/);
    const ok = { calls: 0, async run(o: { dryRun: boolean }): Promise<GcRunSummary> { this.calls++; return { dryRun: o.dryRun, durationMs: 1500, blobsDeleted: 3, manifestsDeleted: 1, bytesFreed: 4096 }; } };
    const counted = metrics.countGcRuns(ok);
    await counted.run({ dryRun: false });
    assert.equal(ok.calls, 1, 'the run went to the collector itself');
    const text = (await metrics.scrape()).body;
    assert.equal(series(text, 'berth_gc_runs_total{outcome="failed",dry_run="false"}'), 1);
    assert.equal(series(text, 'berth_gc_runs_total{outcome="succeeded",dry_run="false"}'), 1);
    assert.equal(series(text, 'berth_gc_deleted_blobs_total'), 3);
    assert.equal(series(text, 'berth_gc_deleted_manifests_total'), 1);
    assert.equal(series(text, 'berth_gc_freed_bytes_total'), 4096);
    assert.equal(series(text, 'berth_gc_duration_seconds_count'), 2);
  });

  it('queries storage once per scrape, again only after a blob change, and keeps the last figures when the query fails', async () => {
    let queries = 0;
    let fail = false;
    const metrics = new BerthMetrics({
      processMetrics: false,
      storageTotals: async () => {
        queries++;
        if (fail) throw new Error('database down');
        return { blobs: queries, bytes: queries * 100 };
      },
    });
    let text = (await metrics.scrape()).body;
    assert.equal(queries, 1, 'both gauges share one query');
    assert.equal(series(text, 'berth_storage_blobs'), 1);
    assert.equal(series(text, 'berth_storage_bytes'), 100);
    await metrics.scrape();
    assert.equal(queries, 1, 'nothing changed: no query');
    await metrics.eventListener({ type: 'blob.pushed', digest: 'sha256:x', size: 1, mediaType: null, repository: 'a', time: 0, actor: { kind: 'anonymous', name: null }, requestId: 'r', remoteAddress: null });
    fail = true;
    text = (await metrics.scrape()).body;
    assert.equal(queries, 2);
    assert.equal(series(text, 'berth_storage_bytes'), 100, 'the last figure stays');
    fail = false;
    text = (await metrics.scrape()).body;
    assert.equal(queries, 3, 'a failed query is tried again');
    assert.equal(series(text, 'berth_storage_bytes'), 300);
  });

  it('labels a request that matched no route as none/other and keeps in-flight gauges balanced', async () => {
    const metrics = new BerthMetrics({ processMetrics: false });
    metrics.observer.routed('upload.patch');
    let text = (await metrics.scrape()).body;
    assert.equal(series(text, 'berth_uploads_in_progress'), 1);
    metrics.observer.finished({ route: 'upload.patch', method: 'PATCH', status: 202, durationMs: 12, bytesIn: 1000, bytesOut: 200 });
    metrics.observer.finished({ route: null, method: 'PROPFIND', status: 405, durationMs: 1, bytesIn: 80, bytesOut: 150 });
    text = (await metrics.scrape()).body;
    assert.equal(series(text, 'berth_uploads_in_progress'), 0);
    assert.equal(series(text, 'berth_http_requests_in_flight'), 0);
    assert.equal(series(text, 'berth_http_requests_total{route="none",method="other",status="405"}'), 1);
    assert.equal(series(text, 'berth_http_request_bytes_total{route="upload.patch"}'), 1000);
  });
});
