/**
 * End-to-end tests of the bundled action in runner setups beyond one registry on a local daemon.
 * They cover several registries in one step through `registry-auth`, a registry name written as a
 * URL, and a Docker in Docker sidecar that the job reaches over TCP with TLS client certificates.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  errorAnnotations,
  expectCleanedUp,
  expectLoggedIn,
  expectNoLeakInFiles,
  expectNoLeakInOutput,
  expectStoredCredential,
  isAuthError,
  leakForms,
  readJobConfig,
} from '../support/checks.js';
import { describeResult } from '../support/exec.js';
import { Job } from '../support/runner.js';
import {
  canRunDockerd,
  makeImage,
  startDockerd,
  startMirror,
  startRegistry,
  type Dockerd,
  type Mirror,
  type Registry,
} from '../support/services.js';
import { makeDockerTlsFiles, type DockerTlsFiles } from '../support/tls.js';

const TAG = 'v0.8.0-local';
const suffix = randomBytes(8).toString('hex');
const PLAIN_USER = 'ci-user';
const PLAIN_PASSWORD = `plain-${suffix}`;

/** A service account key in the layout of Google's JSON keys, over many lines. */
const JSON_KEY = JSON.stringify(
  {
    type: 'service_account',
    project_id: `harness-${suffix}`,
    private_key_id: randomBytes(20).toString('hex'),
    private_key: `-----BEGIN PRIVATE KEY-----\n${randomBytes(96).toString('base64')}\n-----END PRIVATE KEY-----\n`,
    client_email: `pusher@harness-${suffix}.iam.gserviceaccount.com`,
  },
  null,
  2,
);

/** Indents every line of `text` by `spaces`, as a YAML block scalar's content. */
function indent(text: string, spaces: number): string {
  return text
    .split('\n')
    .map((line) => `${' '.repeat(spaces)}${line}`)
    .join('\n');
}

describe.skipIf(!canRunDockerd())('runner topologies', { timeout: 300_000 }, () => {
  let root: string;
  let dockerd: Dockerd;
  let tlsDockerd: Dockerd;
  let tlsFiles: DockerTlsFiles;
  let plainRegistry: Registry;
  let keyRegistry: Registry;
  let mirror: Mirror;
  const jobs: Job[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dpl-topo-'));
    tlsFiles = await makeDockerTlsFiles(join(root, 'tls'));
    [dockerd, tlsDockerd, plainRegistry, keyRegistry, mirror] = await Promise.all([
      startDockerd(join(root, 'docker')),
      startDockerd(join(root, 'dind'), { tls: tlsFiles }),
      startRegistry(join(root, 'plain'), { [PLAIN_USER]: PLAIN_PASSWORD }),
      startRegistry(join(root, 'key'), { _json_key: JSON_KEY }),
      startMirror({ tag: TAG }),
    ]);
  });

  afterEach(async () => {
    for (const job of jobs.splice(0)) await job.dispose();
  });

  afterAll(async () => {
    await mirror?.stop();
    await keyRegistry?.stop();
    await plainRegistry?.stop();
    await tlsDockerd?.stop();
    await dockerd?.stop();
    await rm(root, { recursive: true, force: true });
  });

  async function newJob(env: Record<string, string>): Promise<Job> {
    const job = await Job.create({ env });
    jobs.push(job);
    return job;
  }

  const helperInputs = () => ({ 'helper-version': TAG, 'helper-mirror': mirror.baseUrl });

  /** Makes a new image `ref` in `daemon` and pushes it in a later step of `job`. */
  async function push(job: Job, daemon: Dockerd, ref: string) {
    await makeImage(daemon.host, ref, daemon.env);
    return job.run('docker', ['push', ref]);
  }

  test('registry-auth logs in to two registries', async () => {
    const job = await newJob(dockerd.env);
    const registryAuth = [
      `- registry: ${plainRegistry.address}`,
      `  username: ${PLAIN_USER}`,
      `  password: ${PLAIN_PASSWORD}`,
      `- registry: ${keyRegistry.address}`,
      '  username: _json_key',
      '  password: |',
      indent(JSON_KEY, 4),
      '',
    ].join('\n');
    const secrets = [
      ...leakForms(PLAIN_USER, PLAIN_PASSWORD),
      ...leakForms('_json_key', `${JSON_KEY}\n`),
    ];
    const servers = [plainRegistry.address, keyRegistry.address];

    const main = await job.runAction('main', { 'registry-auth': registryAuth, ...helperInputs() });
    const wrapper = await expectLoggedIn(job, main, servers);
    await expectStoredCredential(job, wrapper, plainRegistry.address, {
      user: PLAIN_USER,
      secret: PLAIN_PASSWORD,
    });
    // The `|` block scalar ends in one newline, which docker login drops.
    await expectStoredCredential(job, wrapper, keyRegistry.address, {
      user: '_json_key',
      secret: JSON_KEY,
    });

    for (const server of servers) {
      const pushed = await push(job, dockerd, `${server}/multi:1`);
      expect(pushed.exitCode, describeResult(pushed)).toBe(0);
    }
    await expectNoLeakInFiles(job, secrets);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    for (const server of servers) {
      expect(post.stdout).toContain(`Logging out of ${server}: done`);
      const pushed = await push(job, dockerd, `${server}/multi:2`);
      expect(pushed.exitCode, `push to ${server} after post`).not.toBe(0);
      expect(isAuthError(pushed), describeResult(pushed)).toBe(true);
    }
    await expectCleanedUp(job);
    await expectNoLeakInFiles(job, secrets);
    expectNoLeakInOutput(job, secrets);
  });

  test.each([
    ['scheme and slash', 'http://{address}/'],
    ['upper-case scheme', 'HTTPS://{address}//'],
  ])('registry with %s is stored bare', async (label, template) => {
    const job = await newJob(dockerd.env);
    const address = plainRegistry.address;
    const main = await job.runAction('main', {
      registry: template.replace('{address}', address),
      username: PLAIN_USER,
      password: PLAIN_PASSWORD,
      ...helperInputs(),
    });
    const wrapper = await expectLoggedIn(job, main, [address]);
    const config = await readJobConfig(main);
    expect(Object.keys(config.credHelpers ?? {})).toEqual([address]);
    await expectStoredCredential(job, wrapper, address, {
      user: PLAIN_USER,
      secret: PLAIN_PASSWORD,
    });

    const ref = `${address}/${label.replace(/ /g, '-')}:1`;
    const pushed = await push(job, dockerd, ref);
    expect(pushed.exitCode, describeResult(pushed)).toBe(0);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    await expectCleanedUp(job);
    expectNoLeakInOutput(job, leakForms(PLAIN_USER, PLAIN_PASSWORD));
  });

  test('TLS daemon through DOCKER_CERT_PATH', async () => {
    const job = await newJob(tlsDockerd.env);
    const address = plainRegistry.address;
    const main = await job.runAction('main', {
      registry: address,
      username: PLAIN_USER,
      password: PLAIN_PASSWORD,
      ...helperInputs(),
    });
    const wrapper = await expectLoggedIn(job, main, [address]);
    await expectStoredCredential(job, wrapper, address, {
      user: PLAIN_USER,
      secret: PLAIN_PASSWORD,
    });

    const pushed = await push(job, tlsDockerd, `${address}/dind:1`);
    expect(pushed.exitCode, describeResult(pushed)).toBe(0);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    const after = await push(job, tlsDockerd, `${address}/dind:2`);
    expect(after.exitCode, 'push after post').not.toBe(0);
    expect(isAuthError(after), describeResult(after)).toBe(true);
    await expectCleanedUp(job);
    expectNoLeakInOutput(job, leakForms(PLAIN_USER, PLAIN_PASSWORD));
  });

  // Without DOCKER_CERT_PATH the docker CLI reads ca.pem, cert.pem and key.pem from its config
  // folder, which is ~/.docker unless DOCKER_CONFIG names another.
  test('TLS certificates in ~/.docker', async () => {
    const job = await newJob({ DOCKER_HOST: tlsDockerd.host, DOCKER_TLS_VERIFY: '1' });
    const userConfigDir = join(job.home, '.docker');
    await mkdir(userConfigDir);
    for (const name of ['ca.pem', 'cert.pem', 'key.pem']) {
      await copyFile(join(tlsFiles.clientDir, name), join(userConfigDir, name));
    }
    const before = await job.run('docker', ['version', '--format', '{{.Server.Version}}']);
    expect(before.exitCode, `docker version before main: ${describeResult(before)}`).toBe(0);

    const address = plainRegistry.address;
    const main = await job.runAction('main', {
      registry: address,
      username: PLAIN_USER,
      password: PLAIN_PASSWORD,
      ...helperInputs(),
    });
    expect(main.exitCode, errorAnnotations(main) || describeResult(main)).toBe(0);
    // A later step runs with the DOCKER_CONFIG that main exported.
    const after = await job.run('docker', ['version', '--format', '{{.Server.Version}}']);
    expect(after.exitCode, `docker version after main: ${describeResult(after)}`).toBe(0);
    const pushed = await push(job, tlsDockerd, `${address}/dind-home:1`);
    expect(pushed.exitCode, describeResult(pushed)).toBe(0);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    await expectCleanedUp(job);
  });
});
