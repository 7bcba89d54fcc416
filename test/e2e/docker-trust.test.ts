// Docker Content Trust with the real docker CLI 28 (`docker trust`) against
// Berth alone: no separate Notary server, and DOCKER_CONTENT_TRUST_SERVER
// unset, so the CLI uses https://<registry host:port>, Berth's own TLS
// listener. Each client step runs with a fresh DOCKER_CONFIG (a fresh trust
// cache), because a cached client hides server failures behind a warning.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerEnv } from './docker-env.js';
import { BERTH_CLI, startTlsBerth, withRegistryLog, type RunningRegistry } from './registry-process.js';
import { run } from './util.js';

const T = { timeout: 240_000 };

describe('docker trust against Berth (no separate Notary)', () => {
  let work: string;
  let env: DockerEnv;
  let reg: RunningRegistry | undefined;
  let n = 0;
  const passphrases = { DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE: 'root-passphrase-1', DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE: 'repo-passphrase-1' };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-dct-'));
    env = await DockerEnv.start();
    await env.buildImages();
    ({ reg } = await startTlsBerth(work));
  }, T);
  after(async () => {
    await reg?.stop();
    await env?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** A docker client with its own config folder (trust cache, keys); `trust` turns DOCKER_CONTENT_TRUST on. */
  async function client(trust = true) {
    const config = join(work, `client-${n++}`);
    await mkdir(config, { recursive: true });
    const e = { DOCKER_CONFIG: config, ...passphrases, ...(trust ? { DOCKER_CONTENT_TRUST: '1' } : {}) };
    return {
      config,
      docker: (args: string[]) => env.docker(args, { env: e }),
      fails: (args: string[]) => env.dockerExpectFailure(args, { env: e }),
    };
  }

  const ref = (path: string) => `${reg?.host}/${path}`;

  it('docker push with DCT signs; a fresh client inspects it and pulls it; unsigned tags and repositories are refused', T, () => withRegistryLog(reg, async () => {
    const publisher = await client();
    await env.docker(['tag', env.images.one, ref('dct/app:signed')]);
    const pushed = await publisher.docker(['push', ref('dct/app:signed')]);
    assert.match(pushed.stdout + pushed.stderr, /Signing and pushing trust metadata/);
    assert.match(pushed.stdout + pushed.stderr, new RegExp(`Successfully signed ${ref('dct/app:signed').replace(/[.]/g, '\\.')}`));
    const digest = /signed: digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    assert.ok(digest, pushed.stdout);

    const pretty = await (await client()).docker(['trust', 'inspect', '--pretty', ref('dct/app')]);
    assert.match(pretty.stdout, new RegExp(`^Signatures for ${ref('dct/app')}$`, 'm'));
    assert.match(pretty.stdout, new RegExp(`^signed\\s+${(digest as string).slice(7)}\\s+\\(Repo Admin\\)$`, 'm'));
    assert.match(pretty.stdout, /^ {2}Repository Key:\t[0-9a-f]{64}$/m);
    assert.match(pretty.stdout, /^ {2}Root Key:\t[0-9a-f]{64}$/m);

    await env.docker(['tag', env.images.two, ref('dct/app:unsigned')]);
    await publisher.docker(['push', '--disable-content-trust', ref('dct/app:unsigned')]);
    await env.docker(['rmi', ref('dct/app:signed'), ref('dct/app:unsigned')]);

    const puller = await client();
    const pull = await puller.docker(['pull', ref('dct/app:signed')]);
    assert.match(pull.stdout, new RegExp(`Pull \\(1 of 1\\): ${ref('dct/app:signed').replace(/[.]/g, '\\.')}@${digest}`));
    assert.match(pull.stdout, new RegExp(`Digest: ${digest}`));
    const refused = await (await client()).fails(['pull', ref('dct/app:unsigned')]);
    assert.match(refused.stdout + refused.stderr, /No valid trust data for unsigned/);

    await env.docker(['tag', env.images.one, ref('dct/plain:1')]);
    await publisher.docker(['push', '--disable-content-trust', ref('dct/plain:1')]);
    const none = await (await client()).fails(['pull', ref('dct/plain:1')]);
    assert.match(none.stdout + none.stderr, /does not have trust data for/);
  }));

  it('signers: trust key generate, signer add, trust sign, inspect by signer, revoke', T, () => withRegistryLog(reg, async () => {
    const admin = await client();
    await run('docker', ['trust', 'key', 'generate', 'alice', '--dir', admin.config], { env: { ...env.env, DOCKER_CONFIG: admin.config, ...passphrases } });
    const added = await admin.docker(['trust', 'signer', 'add', '--key', join(admin.config, 'alice.pub'), 'alice', ref('dct/signed')]);
    assert.match(added.stdout, /Successfully added signer: alice to /);
    await env.docker(['tag', env.images.one, ref('dct/signed:v1')]);
    const signed = await admin.docker(['trust', 'sign', ref('dct/signed:v1')]);
    assert.match(signed.stdout + signed.stderr, /Successfully signed/);

    const inspect = await (await client()).docker(['trust', 'inspect', ref('dct/signed:v1')]);
    const doc = JSON.parse(inspect.stdout) as { SignedTags: { SignedTag: string; Signers: string[] }[]; Signers: { Name: string }[] }[];
    assert.deepEqual(doc[0]?.SignedTags.map((s) => [s.SignedTag, s.Signers]), [['v1', ['alice']]]);
    assert.deepEqual(doc[0]?.Signers.map((s) => s.Name), ['alice']);

    // A second signer signs the same tag (only targets/bob is published): both show.
    const bob = await client();
    await run('docker', ['trust', 'key', 'generate', 'bob', '--dir', bob.config], { env: { ...env.env, DOCKER_CONFIG: bob.config, ...passphrases } });
    assert.match((await admin.docker(['trust', 'signer', 'add', '--key', join(bob.config, 'bob.pub'), 'bob', ref('dct/signed')])).stdout, /Successfully added signer: bob to /);
    const second = await bob.docker(['trust', 'sign', ref('dct/signed:v1')]);
    assert.match(second.stdout + second.stderr, /Existing signatures for tag v1 digest [0-9a-f]{64} from:\nalice/);
    const both = JSON.parse((await (await client()).docker(['trust', 'inspect', ref('dct/signed:v1')])).stdout) as { SignedTags: { Signers: string[] }[] }[];
    assert.deepEqual(both[0]?.SignedTags[0]?.Signers, ['alice', 'bob']);

    // berth trust inspect reads the same from the server's database: docker's JSON (--docker) exactly, and
    // docker's --pretty text exactly, followed by the trust policy's verdicts and the OCI signatures.
    const berth = (args: string[]) => run(process.execPath, [BERTH_CLI, 'trust', 'inspect', '--data-dir', reg?.dataDir ?? '', ...args]);
    for (const target of [ref('dct/signed'), ref('dct/signed:v1')]) {
      const fromDocker = await (await client()).docker(['trust', 'inspect', target]);
      assert.deepEqual(JSON.parse((await berth(['--docker', target])).stdout), JSON.parse(fromDocker.stdout), target);
      const prettyDocker = (await (await client()).docker(['trust', 'inspect', '--pretty', target])).stdout;
      const text = (await berth([target])).stdout;
      assert.equal(text.slice(0, prettyDocker.length), prettyDocker, target);
      const esc = target.replace(/[.]/g, '\\.');
      assert.match(text.slice(prettyDocker.length), new RegExp(`^\\nNo trust policy applies to ${esc}\\n\\nTAG {7}DIGEST {61}STATE {5}BY OR REASON\\n`
        + `v1 {8}${(doc[0]?.SignedTags[0] as unknown as { Digest: string }).Digest} {3}invalid {3}unknown key: the DCT signature of v1 is by alice, bob, releases, not a signer the policy trusts\\n`
        + `\\nNo OCI signatures for ${esc}\\n$`), target);
    }

    const revoked = await admin.docker(['trust', 'revoke', ref('dct/signed:v1')]);
    assert.match(revoked.stdout, /Successfully deleted signature for /);
    const after = await (await client()).docker(['trust', 'inspect', '--pretty', ref('dct/signed')]);
    assert.match(after.stdout, new RegExp(`No signatures for ${ref('dct/signed')}`));
  }));

  it('revoking a whole repository\'s signatures, then pulls are refused', T, () => withRegistryLog(reg, async () => {
    const publisher = await client();
    await env.docker(['tag', env.images.one, ref('dct/whole:1')]);
    await publisher.docker(['push', ref('dct/whole:1')]);
    assert.match((await (await client()).docker(['trust', 'inspect', '--pretty', ref('dct/whole')])).stdout, /^1\s+[0-9a-f]{64}\s+\(Repo Admin\)$/m);
    const revoked = await publisher.docker(['trust', 'revoke', '-y', ref('dct/whole')]);
    assert.match(revoked.stdout, new RegExp(`Successfully deleted signature for ${ref('dct/whole')}`));
    assert.match((await (await client()).docker(['trust', 'inspect', '--pretty', ref('dct/whole')])).stdout, new RegExp(`No signatures for ${ref('dct/whole')}`));
    await env.docker(['rmi', ref('dct/whole:1')]);
    const refused = await (await client()).fails(['pull', ref('dct/whole:1')]);
    assert.match(refused.stdout + refused.stderr, /No valid trust data for 1/);
  }));

  it('berth trust migrate: DCT signatures become OCI signatures by a new key; a pull under a policy requiring that key then works without DCT', T, () => withRegistryLog(reg, async () => {
    const publisher = await client();
    await env.docker(['tag', env.images.one, ref('dctmig/app:1.0')]);
    const pushed = await publisher.docker(['push', ref('dctmig/app:1.0')]);
    const digest = /1\.0: digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
    assert.ok(digest, pushed.stdout);
    await env.docker(['tag', env.images.two, ref('dctmig/app:unsigned')]);
    await publisher.docker(['push', '--disable-content-trust', ref('dctmig/app:unsigned')]);

    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(work, 'migrate.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(join(work, 'migrate.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const berth = (args: string[]) => run(process.execPath, [BERTH_CLI, ...args, '--data-dir', reg?.dataDir ?? '']);
    const migrated = await berth(['trust', 'migrate', ref('dctmig/app'), '--key', join(work, 'migrate.key'), '--json']);
    assert.deepEqual((JSON.parse(migrated.stdout) as { digest: string; tags: string[]; signers: string[]; outcome: string }[]).map((r) => [r.digest, r.tags, r.signers, r.outcome]),
      [[digest, ['1.0'], ['targets'], 'signed']]);
    await berth(['trust', 'policy', 'set', 'repository:dctmig/app', '--key', `migrated=${join(work, 'migrate.pub')}`]);
    type Inspection = { policy: { scope: string } | null; tags: { tag: string; state: string; by: { keys: string[] } }[]; oci: { tag: string; signatures: { format: string; via: string; verified: boolean; keyName: string | null }[] }[] };
    const [inspected] = JSON.parse((await berth(['trust', 'inspect', ref('dctmig/app'), '--json'])).stdout) as Inspection[];
    assert.equal(inspected?.policy?.scope, 'repository:dctmig/app');
    assert.deepEqual(inspected?.tags.map((t) => [t.tag, t.state, t.by.keys]), [['1.0', 'verified', ['migrated']], ['unsigned', 'unsigned', []]]);
    assert.deepEqual(inspected?.oci.map((o) => [o.tag, o.signatures.map((f) => [f.format, f.via, f.verified, f.keyName])]), [['1.0', [['cosign', 'tag', true, 'migrated']]], ['unsigned', []]]);

    // Without DCT: the signed tag pulls (the policy verifies the migrated signature), the unsigned one is refused by Berth.
    await env.docker(['rmi', ref('dctmig/app:1.0'), ref('dctmig/app:unsigned')]);
    const plain = await client(false);
    const pulled = await plain.docker(['pull', ref('dctmig/app:1.0')]);
    assert.match(pulled.stdout, new RegExp(`Digest: ${digest}`));
    const refused = await plain.fails(['pull', ref('dctmig/app:unsigned')]);
    assert.match(refused.stdout + refused.stderr, /denied: .*dctmig\/app.*unsigned/);
  }));

  it('a trust policy naming a DCT signer: a tag alice signed pulls without DCT, an unsigned one and one only the repository key signed are denied', T, () => withRegistryLog(reg, async () => {
    const admin = await client();
    await run('docker', ['trust', 'key', 'generate', 'alice', '--dir', admin.config], { env: { ...env.env, DOCKER_CONFIG: admin.config, ...passphrases } });
    await env.docker(['tag', env.images.one, ref('dctpol/app:admin')]);
    await admin.docker(['push', ref('dctpol/app:admin')]);
    await admin.docker(['trust', 'signer', 'add', '--key', join(admin.config, 'alice.pub'), 'alice', ref('dctpol/app')]);
    await env.docker(['tag', env.images.two, ref('dctpol/app:alice')]);
    await admin.docker(['push', '--disable-content-trust', ref('dctpol/app:alice')]);
    assert.match((await admin.docker(['trust', 'sign', ref('dctpol/app:alice')])).stdout, /Successfully signed/);
    await env.docker(['tag', env.images.two, ref('dctpol/app:unsigned')]);
    await admin.docker(['push', '--disable-content-trust', ref('dctpol/app:unsigned')]);
    await run(process.execPath, [BERTH_CLI, 'trust', 'policy', 'set', 'repository:dctpol/app', '--dct-signer', 'alice', '--data-dir', reg?.dataDir ?? '']);

    await env.docker(['rmi', ref('dctpol/app:admin'), ref('dctpol/app:alice'), ref('dctpol/app:unsigned')]);
    const plain = await client(false);
    assert.match((await plain.docker(['pull', ref('dctpol/app:alice')])).stdout, /Digest: sha256:[0-9a-f]{64}/);
    const unsigned = await plain.fails(['pull', ref('dctpol/app:unsigned')]);
    assert.match(unsigned.stdout + unsigned.stderr, /denied: .*dctpol\/app.*unsigned/);
    const adminOnly = await plain.fails(['pull', ref('dctpol/app:admin')]);
    assert.match(adminOnly.stdout + adminOnly.stderr, /denied: .*dctpol\/app/);
  }));

  it('root key rotation with the notary CLI on docker\'s trust folder: a client that trusted the old root still verifies the next pull', T, () => withRegistryLog(reg, async () => {
    const publisher = await client();
    await env.docker(['tag', env.images.one, ref('dctrot/app:1')]);
    await publisher.docker(['push', ref('dctrot/app:1')]);
    const consumer = await client();
    await consumer.docker(['pull', ref('dctrot/app:1')]); // trusts the first root on first use
    const rootBefore = JSON.parse((await (await client()).docker(['trust', 'inspect', ref('dctrot/app')])).stdout) as { AdministrativeKeys: { Name: string; Keys: { ID: string }[] }[] }[];

    // docker keeps its keys in $DOCKER_CONFIG/trust, notary's own layout: the notary CLI rotates the root there.
    const notaryEnv = { ...process.env, NOTARY_ROOT_PASSPHRASE: passphrases.DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE, NOTARY_TARGETS_PASSPHRASE: passphrases.DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE };
    const rotated = await run('notary', ['-s', reg?.url ?? '', '-d', join(publisher.config, 'trust'), '--tlscacert', join(work, 'certs', 'ca.crt'), 'key', 'rotate', ref('dctrot/app'), 'root'], { env: notaryEnv, input: 'yes\n' });
    assert.match(rotated.stdout + rotated.stderr, /Successfully rotated root key/);
    const rootAfter = JSON.parse((await (await client()).docker(['trust', 'inspect', ref('dctrot/app')])).stdout) as typeof rootBefore;
    const rootId = (doc: typeof rootBefore) => doc[0]?.AdministrativeKeys.find((k) => k.Name === 'Root')?.Keys.map((k) => k.ID);
    assert.notDeepEqual(rootId(rootAfter), rootId(rootBefore), 'the root key changed');

    // A new tag signed after the rotation, pulled by the client holding the old root: it follows the cross-signed chain.
    await env.docker(['tag', env.images.two, ref('dctrot/app:2')]);
    await publisher.docker(['push', ref('dctrot/app:2')]);
    await env.docker(['rmi', ref('dctrot/app:1'), ref('dctrot/app:2')]);
    const pulled = await consumer.docker(['pull', ref('dctrot/app:2')]);
    assert.match(pulled.stdout, /Pull \(1 of 1\): .*dctrot\/app:2@sha256:[0-9a-f]{64}/);
  }));
});
