// End-to-end: helm charts in Berth as OCI artifacts. For each helm the
// deploy tests use (3 and 4), a tiny chart made here is packaged, pushed
// with `helm push` after `helm registry login` (HTTP Basic, htpasswd) and
// pulled back with `helm pull oci://…`: the bytes pulled are the bytes
// packaged, and Berth stores them as helm's OCI artifact (config and layer
// media types), under the chart's version as its tag.
//
// helm comes from BERTH_TEST_HELM (colon-separated paths; .ci/run sets it
// with test/scripts/get-helm.sh) or from PATH. Without it the tests are
// skipped with the reason, unless E2E_REQUIRE_HELM=1 or
// BERTH_TEST_HELM_REQUIRED=1 (CI): then they fail.

import assert from 'node:assert/strict';
import { readFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRegistry, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { describeHttp, digestOf, http, run, runExpectFailure, type RunOptions } from './util.js';

const T = { timeout: 120_000 };
const USER = 'alice';
const PASSWORD = 'helm-s3cret-pass';
const HELM_CONFIG_MT = 'application/vnd.cncf.helm.config.v1+json';
const HELM_CHART_MT = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';

const required = process.env.E2E_REQUIRE_HELM === '1' || process.env.BERTH_TEST_HELM_REQUIRED === '1';

async function helmBinaries(): Promise<string[]> {
  const given = (process.env.BERTH_TEST_HELM ?? '').split(':').filter(Boolean);
  if (given.length > 0) return given;
  const onPath = await run('sh', ['-c', 'command -v helm'], { allowFailure: true });
  return onPath.code === 0 ? [onPath.stdout.trim()] : [];
}

const helms = await helmBinaries();
const missing = helms.length === 0 ? 'no helm: set BERTH_TEST_HELM (eval "$(test/scripts/get-helm.sh)") or put helm on PATH' : undefined;

describe('helm push and pull of a chart (OCI)', () => {
  let work = '';
  let htpasswd = '';
  let reg: RunningRegistry | undefined;

  before(async () => {
    if (missing) return;
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-helm-'));
    htpasswd = join(work, 'htpasswd');
    await run('htpasswd', ['-Bbc', htpasswd, USER, PASSWORD]);
    reg = await startRegistry({ env: { REGISTRY_AUTH: 'htpasswd', REGISTRY_AUTH_HTPASSWD_REALM: 'Berth', REGISTRY_AUTH_HTPASSWD_PATH: htpasswd } });
  }, T);

  after(async () => {
    await reg?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  if (missing) {
    it('needs helm', { skip: required ? false : missing }, () => {
      throw new Error(`helm is required here (E2E_REQUIRE_HELM / BERTH_TEST_HELM_REQUIRED) but there is ${missing}`);
    });
    return;
  }

  for (const [k, helm] of helms.entries()) {
    it(`${basename(join(helm, '..'))}: package, registry login, push, pull: the same bytes; Berth holds helm's OCI artifact`, T, async () => {
      const r = reg as RunningRegistry;
      await withRegistryLog(r, async () => {
        // Every helm keeps its own config, cache and registry logins here.
        const home = join(work, `helm-${k}`);
        const env = { ...process.env, HELM_CONFIG_HOME: join(home, 'config'), HELM_CACHE_HOME: join(home, 'cache'), HELM_DATA_HOME: join(home, 'data') };
        const h = (args: string[], opts: RunOptions = {}) => run(helm, args, { ...opts, env });
        const name = `tiny${k}`;
        const version = `0.1.${k}`;
        const chart = join(home, name);
        await mkdir(join(chart, 'templates'), { recursive: true });
        await writeFile(join(chart, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: ${version}\ndescription: a chart made by Berth's e2e test\n`);
        await writeFile(join(chart, 'values.yaml'), 'greeting: hello\n');
        await writeFile(join(chart, 'templates', 'configmap.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n');
        await h(['package', chart, '--destination', home]);
        const tgz = join(home, `${name}-${version}.tgz`);
        const packaged = await readFile(tgz);

        // Not logged in: refused.
        const anonymous = await runExpectFailure(helm, ['push', tgz, `oci://${r.host}/charts`, '--plain-http'], { env });
        assert.match(anonymous.stderr, /401|unauthorized|authentication required|credential not found/i);
        const wrong = await runExpectFailure(helm, ['registry', 'login', r.host, '--username', USER, '--password-stdin', '--plain-http'], { env, input: 'wrong-password\n' });
        assert.match(wrong.stderr, /401|unauthorized|invalid username or password/i);
        await h(['registry', 'login', r.host, '--username', USER, '--password-stdin', '--plain-http'], { input: `${PASSWORD}\n` });

        const pushed = await h(['push', tgz, `oci://${r.host}/charts`, '--plain-http']);
        const pushedDigest = /Digest:\s*(sha256:[0-9a-f]{64})/.exec(`${pushed.stdout}\n${pushed.stderr}`)?.[1];
        assert.ok(pushedDigest, `helm push printed no digest:\n${pushed.stdout}\n${pushed.stderr}`);

        // What Berth holds: helm's artifact under the chart's version, the layer being the packaged bytes.
        const auth = { Authorization: `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}` };
        const m = await http(`${r.url}/v2/charts/${name}/manifests/${version}`, { headers: { ...auth, Accept: 'application/vnd.oci.image.manifest.v1+json' } });
        assert.equal(m.status, 200, describeHttp('GET', `charts/${name}:${version}`, m));
        assert.equal(m.headers.get('docker-content-digest'), pushedDigest);
        assert.equal(digestOf(m.body), pushedDigest);
        const manifest = JSON.parse(m.body.toString('utf8')) as { config: { mediaType: string }; layers: Array<{ mediaType: string; digest: string; size: number }> };
        assert.equal(manifest.config.mediaType, HELM_CONFIG_MT);
        assert.deepEqual(manifest.layers.map((l) => [l.mediaType, l.digest, l.size]), [[HELM_CHART_MT, digestOf(packaged), packaged.length]]);
        const tags = await http(`${r.url}/v2/charts/${name}/tags/list`, { headers: auth });
        assert.deepEqual(JSON.parse(tags.body.toString('utf8')), { name: `charts/${name}`, tags: [version] });

        const into = join(home, 'pulled');
        await mkdir(into);
        await h(['pull', `oci://${r.host}/charts/${name}`, '--version', version, '--plain-http', '--destination', into]);
        assert.ok((await readFile(join(into, `${name}-${version}.tgz`))).equals(packaged), 'helm pull brought back other bytes than helm package made');

        // After logout: pulls of this private registry are refused again.
        await h(['registry', 'logout', r.host]);
        const out = await runExpectFailure(helm, ['pull', `oci://${r.host}/charts/${name}`, '--version', version, '--plain-http', '--destination', into], { env });
        assert.match(out.stderr, /401|unauthorized|authentication required|credential not found/i);
        assert.ok(!r.logs().includes(PASSWORD), 'the password never reaches the registry\'s log');
      });
    });
  }
});
