// deploy/helm/berth: `helm lint --strict` and `helm template`, with the
// defaults and with a scaled-out set of values, and checks of the rendered
// manifests: replicas, probes on /readyz and /healthz, secrets only in the
// Secret, every secret reference resolvable, the ConfigMap's config.yml
// accepted by Berth's own loader, and the refusals of replicaCount > 1
// without PostgreSQL, S3 or a shared signing key. The chart is not installed
// in a cluster (there is none in CI), so what Kubernetes itself would reject
// beyond what is checked here is not covered.
//
// helm comes from BERTH_TEST_HELM (colon-separated paths; .ci/run sets it with
// test/scripts/get-helm.sh) or from PATH. Without it the helm tests are
// skipped with the reason, unless BERTH_TEST_HELM_REQUIRED=1 (CI).
// The static checks at the top run without helm.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig, parseDuration } from '../../src/config/index.js';
import { run } from '../e2e/util.js';
import { REPO_ROOT, commandExists } from './helpers.js';

const CHART = join(REPO_ROOT, 'deploy', 'helm', 'berth');
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;

// Rendered manifests are untyped YAML, walked by the tests' assertions.
type Obj = Record<string, any>;

function helmBinaries(): string[] {
  return (process.env.BERTH_TEST_HELM ?? '').split(':').filter(Boolean);
}

describe('deploy/helm/berth (static)', () => {
  it('is a v2 chart whose appVersion is Berth\'s version', () => {
    const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Obj;
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart.apiVersion, 'v2');
    assert.equal(chart.name, 'berth');
    assert.equal(chart.appVersion, pkg.version);
  });

  it('references only values that values.yaml defines', () => {
    const dir = join(CHART, 'templates');
    const missing: string[] = [];
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const m of text.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
        let node: unknown = values;
        for (const key of (m[1] as string).slice(1).split('.')) {
          if (typeof node !== 'object' || node === null || !(key in node)) {
            missing.push(`${file}: .Values${m[1]}`);
            break;
          }
          node = (node as Obj)[key];
        }
      }
    }
    assert.deepEqual([...new Set(missing)], []);
  });

  it('warns in values.yaml that replicas > 1 need PostgreSQL and S3', () => {
    const text = readFileSync(join(CHART, 'values.yaml'), 'utf8');
    assert.match(text, /replicaCount > 1\): REQUIRES a PostgreSQL database/);
    assert.match(text, /AND S3 blob storage/);
    assert.equal(values.replicaCount, 1);
  });
});

const helms = helmBinaries();
const helmRequired = process.env.BERTH_TEST_HELM_REQUIRED === '1';

async function helmCandidates(): Promise<string[]> {
  if (helms.length > 0) return helms;
  return (await commandExists('helm')) ? ['helm'] : [];
}

const candidates = await helmCandidates();
if (candidates.length === 0) {
  describe('deploy/helm/berth (helm)', () => {
    it('renders with helm', (t) => {
      if (helmRequired) assert.fail('BERTH_TEST_HELM_REQUIRED=1 but no helm: eval "$(test/scripts/get-helm.sh)" sets BERTH_TEST_HELM');
      t.skip('no helm: set BERTH_TEST_HELM (eval "$(test/scripts/get-helm.sh)") or put helm on PATH; BERTH_TEST_HELM_REQUIRED=1 makes this a failure');
    });
  });
}

/** The first container of the rendered Deployment. */
function container(docs: Obj[]): Obj {
  const c = kind(docs, 'Deployment').spec.template.spec.containers[0];
  assert.ok(c, 'the Deployment has a container');
  return c as Obj;
}

function kind(docs: Obj[], k: string): Obj {
  const found = docs.filter((d) => d.kind === k);
  assert.equal(found.length, 1, `one ${k} rendered (found ${found.length})`);
  return found[0] as Obj;
}

function envValue(c: Obj, name: string): Obj | undefined {
  return (c.env as Obj[] | undefined)?.find((e) => e.name === name);
}

/** Berth's loader on the rendered config.yml with the container's plain env plus `secretEnv`. */
async function loadRendered(docs: Obj[], secretEnv: Record<string, string>): Promise<Awaited<ReturnType<typeof loadConfig>>> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-helm-'));
  try {
    const file = join(dir, 'config.yml');
    await writeFile(file, kind(docs, 'ConfigMap').data['config.yml'] as string);
    const env: Record<string, string> = { ...secretEnv };
    for (const e of container(docs).env as Obj[]) if (typeof e.value === 'string') env[e.name as string] = e.value;
    env.BERTH_CONFIG = file; // as mounted at /etc/berth/config/config.yml
    return await loadConfig({ file, env });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

for (const helm of candidates) {
  const version = (await run(helm, ['version', '--short'])).stdout.trim();
  const template = async (...args: string[]): Promise<Obj[]> => {
    const r = await run(helm, ['template', 'reg', CHART, '--namespace', 'registry', ...args]);
    return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj).filter((d) => d !== null);
  };
  const refused = async (...args: string[]): Promise<string> => {
    const r = await run(helm, ['template', 'reg', CHART, ...args], { allowFailure: true });
    assert.notEqual(r.code, 0, `helm template ${args.join(' ')} should fail`);
    return r.stderr;
  };

  describe(`deploy/helm/berth with helm ${version}`, () => {
    it('passes helm lint --strict, with the defaults and scaled out', async () => {
      await run(helm, ['lint', '--strict', CHART]);
      await run(helm, ['lint', '--strict', CHART, '--set', 'replicaCount=2', '--set', 'secrets.databaseUrl=postgres://u:p@db:5432/berth',
        '--set', 'config.storage.s3.bucket=b', '--set', 'persistence.enabled=false', '--set', 'secrets.tokenSigningKey=x']);
    });

    it('renders the embedded default: one replica, a volume, probes on /readyz and /healthz', async () => {
      const docs = await template();
      assert.deepEqual(docs.map((d) => d.kind).sort(), ['ConfigMap', 'Deployment', 'PersistentVolumeClaim', 'Service', 'ServiceAccount']);
      const deploy = kind(docs, 'Deployment');
      assert.equal(deploy.spec.replicas, 1);
      assert.equal(deploy.spec.strategy?.type, 'Recreate', 'a ReadWriteOnce volume cannot be shared by old and new pod');
      const c = container(docs);
      assert.deepEqual(c.ports, [{ name: 'http', containerPort: 5000, protocol: 'TCP' }]);
      assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http' });
      assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http' });
      assert.deepEqual(c.startupProbe.httpGet, { path: '/healthz', port: 'http' });
      // /readyz gives each check 5 s.
      assert.ok(c.readinessProbe.timeoutSeconds > 5);
      const pod = deploy.spec.template.spec;
      assert.equal(pod.securityContext.runAsUser, 1000, 'the image\'s USER');
      assert.equal(pod.securityContext.runAsNonRoot, true);
      const mounts = Object.fromEntries((c.volumeMounts as Obj[]).map((m) => [m.name, m.mountPath]));
      assert.equal(mounts.data, '/var/lib/berth');
      assert.equal(envValue(c, 'BERTH_CONFIG')?.value, `${mounts.config}/config.yml`);
      const volumes = Object.fromEntries((pod.volumes as Obj[]).map((v) => [v.name, v]));
      assert.deepEqual(Object.keys(volumes).sort(), Object.keys(mounts).sort());
      assert.equal(volumes.data.persistentVolumeClaim.claimName, kind(docs, 'PersistentVolumeClaim').metadata.name);
      assert.equal(volumes.config.configMap.name, kind(docs, 'ConfigMap').metadata.name);
      const svc = kind(docs, 'Service');
      assert.deepEqual(svc.spec.selector, deploy.spec.selector.matchLabels);
      for (const [k, v] of Object.entries(svc.spec.selector as Record<string, string>)) assert.equal(deploy.spec.template.metadata.labels[k], v);
      assert.equal(svc.spec.ports[0].targetPort, 'http');

      const r = await loadRendered(docs, {});
      assert.deepEqual(r.errors, []);
      assert.deepEqual(r.warnings, []);
      assert.equal(r.config?.database.kind, 'sqlite');
      assert.equal(r.config?.dataDir, '/var/lib/berth');
      assert.equal(r.config?.auth.kind, 'token');
    });

    it('renders a scaled-out release: replicas from values, secrets only in the Secret, every reference resolvable', async () => {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      const dir = await mkdtemp(join(tmpdir(), 'berth-helm-'));
      let docs: Obj[];
      const secretValues = {
        databaseUrl: 'postgres://berth:db-Secret-1@postgres.db:5432/berth?sslmode=require',
        s3AccessKey: 'AKIA-access-Secret-2',
        s3SecretKey: 'secret-Secret-3',
        adminPassword: 'admin-Secret-4',
      };
      try {
        await writeFile(join(dir, 'key.pem'), pem);
        docs = await template(
          '--set', 'replicaCount=3', '--set', 'persistence.enabled=false',
          ...Object.entries(secretValues).flatMap(([k, v]) => ['--set', `secrets.${k}=${v}`]),
          '--set-file', `secrets.tokenSigningKey=${join(dir, 'key.pem')}`,
          '--set', 'config.storage.s3.bucket=berth', '--set', 'config.storage.s3.region=eu-west-1',
          '--set', 'ingress.enabled=true', '--set', 'podDisruptionBudget.enabled=true',
        );
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
      const deploy = kind(docs, 'Deployment');
      assert.equal(deploy.spec.replicas, 3);
      assert.equal(deploy.spec.strategy, undefined, 'rolling updates without a ReadWriteOnce volume');
      assert.equal(docs.filter((d) => d.kind === 'PersistentVolumeClaim').length, 0);
      assert.equal(kind(docs, 'PodDisruptionBudget').spec.minAvailable, 1);

      const secret = kind(docs, 'Secret');
      const decoded = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
      assert.deepEqual(decoded, {
        'database-url': secretValues.databaseUrl,
        's3-access-key': secretValues.s3AccessKey,
        's3-secret-key': secretValues.s3SecretKey,
        'admin-password': secretValues.adminPassword,
        'token-signing-key.pem': pem,
      });
      // No secret anywhere but in the Secret (base64 there, so plain text nowhere).
      const plain = JSON.stringify(docs.filter((d) => d.kind !== 'Secret'));
      for (const v of [...Object.values(secretValues), 'Secret-1', 'Secret-2', 'Secret-3', 'Secret-4', 'PRIVATE KEY']) {
        assert.ok(!plain.includes(v), `${v} appears outside the Secret`);
      }

      const c = container(docs);
      const fromSecret: Record<string, string> = {};
      for (const e of c.env as Obj[]) {
        const ref = e.valueFrom?.secretKeyRef as Obj | undefined;
        if (!ref) continue;
        assert.equal(ref.name, secret.metadata.name);
        const value = (decoded as Record<string, string>)[ref.key as string];
        assert.ok(value !== undefined, `env ${e.name} reads the key ${ref.key}, which the Secret has`);
        fromSecret[e.name as string] = value;
      }
      assert.deepEqual(Object.keys(fromSecret).sort(), ['BERTH_ADMIN_PASSWORD', 'BERTH_DATABASE_URL', 'REGISTRY_STORAGE_S3_ACCESSKEY', 'REGISTRY_STORAGE_S3_SECRETKEY']);

      // The signing key: a file from the Secret, where the config says.
      const keyPath = envValue(c, 'REGISTRY_AUTH_TOKEN_SIGNINGKEY')?.value as string;
      const mount = (c.volumeMounts as Obj[]).find((m) => keyPath.startsWith(`${m.mountPath}/`));
      assert.ok(mount, `${keyPath} is on a mounted volume`);
      const volume = (deploy.spec.template.spec.volumes as Obj[]).find((v) => v.name === mount.name);
      assert.equal(volume?.secret?.secretName, secret.metadata.name);
      assert.deepEqual(volume?.secret?.items, [{ key: 'token-signing-key.pem', path: keyPath.slice(mount.mountPath.length + 1) }]);

      // Draining fits in the grace period.
      const config = parse(kind(docs, 'ConfigMap').data['config.yml'] as string) as Obj;
      const drain = parseDuration(config.http.draintimeout as string) as number;
      const preStop = Number(c.lifecycle.preStop.exec.command[1]);
      assert.ok(deploy.spec.template.spec.terminationGracePeriodSeconds * 1000 > drain + preStop * 1000);

      // Big bodies through the Ingress.
      const ingress = kind(docs, 'Ingress');
      assert.equal(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-body-size'], '0');
      assert.equal(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-request-buffering'], 'off');
      assert.equal(ingress.spec.rules[0].http.paths[0].backend.service.name, kind(docs, 'Service').metadata.name);

      const r = await loadRendered(docs, fromSecret);
      assert.deepEqual(r.warnings, []);
      assert.deepEqual(r.errors, []);
      assert.ok(r.config);
      assert.equal(r.config.database.kind, 'postgres');
      assert.equal(r.config.storage.driver, 's3');
      assert.equal(r.config.storage.s3?.bucket, 'berth');
      assert.equal(r.config.storage.s3?.secretKey, secretValues.s3SecretKey);
      assert.equal(r.config.auth.kind, 'token');
      if (r.config.auth.kind === 'token') assert.equal(r.config.auth.signingKey, keyPath);
    });

    it('refuses replicas > 1 without PostgreSQL, S3, a shareable volume or a shared signing key', async () => {
      const db = ['--set', 'secrets.databaseUrl=postgres://u:p@db:5432/berth'];
      const s3 = ['--set', 'config.storage.s3.bucket=b'];
      const noVolume = ['--set', 'persistence.enabled=false'];
      assert.match(await refused('--set', 'replicaCount=2'), /replicaCount > 1 requires PostgreSQL: set secrets\.databaseUrl/);
      assert.match(await refused('--set', 'replicaCount=2', ...db), /replicaCount > 1 requires S3 blob storage: set config\.storage\.s3/);
      assert.match(await refused('--set', 'replicaCount=2', ...db, ...s3), /set persistence\.enabled=false/);
      assert.match(await refused('--set', 'replicaCount=2', ...db, ...s3, ...noVolume), /one shared signing key: set secrets\.tokenSigningKey/);
      // Without token auth there is nothing to sign.
      const docs = await template('--set', 'replicaCount=2', ...db, ...s3, ...noVolume, '--set', 'config.auth=null');
      assert.equal(kind(docs, 'Deployment').spec.replicas, 2);
      assert.equal(envValue(container(docs), 'REGISTRY_AUTH_TOKEN_SIGNINGKEY'), undefined, 'without auth.token the variable would turn token auth on');
    });

    it('reads an existing Secret instead of making one', async () => {
      const docs = await template('--set', 'secrets.existingSecret=berth-credentials');
      assert.equal(docs.filter((d) => d.kind === 'Secret').length, 0);
      const c = container(docs);
      const refs = (c.env as Obj[]).filter((e) => e.valueFrom).map((e) => e.valueFrom.secretKeyRef as Obj);
      assert.equal(refs.length, 4);
      for (const ref of refs) assert.deepEqual([ref.name, ref.optional], ['berth-credentials', true]);
      // With token auth (the default config) the signing key must be in it: not optional.
      const volume = (kind(docs, 'Deployment').spec.template.spec.volumes as Obj[]).find((v) => v.secret);
      assert.equal(volume?.secret.secretName, 'berth-credentials');
      assert.equal(volume?.secret.optional, undefined);
      assert.equal(envValue(c, 'REGISTRY_AUTH_TOKEN_SIGNINGKEY')?.value, '/etc/berth/secrets/token-signing-key.pem');
    });
  });
}
