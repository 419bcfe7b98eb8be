/**
 * End-to-end tests of the bundled action (dist/) through the runner stand-in, against a real
 * dockerd, a distribution registry with htpasswd users, and a mirror that serves Debian's
 * docker-credential-pass build in the release layout.
 *
 * The contract under test:
 * - main exports DOCKER_CONFIG (a new folder under RUNNER_TEMP), puts a credential helper wrapper
 *   on PATH and sets the outputs `config-dir` and `key-fingerprint`;
 * - a later `docker push` then authenticates;
 * - no file and no log line of the job contains the password;
 * - post logs out and leaves no key, agent, socket or password store behind.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { describeResult } from '../support/exec.js';
import { findInTree, findProcessesMentioning, walkTree } from '../support/inspect.js';
import { Job, type StepResult } from '../support/runner.js';
import {
  canRunDockerd,
  freePort,
  makeImage,
  startDockerd,
  startMirror,
  startRegistry,
  type Dockerd,
  type Mirror,
  type Registry,
} from '../support/services.js';

const TAG = 'v0.8.0-local';

const suffix = randomBytes(8).toString('hex');

/** Returns a fake service account key in the layout of Google's JSON keys, over many lines. */
function jsonKey(): string {
  const body = randomBytes(1200)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return JSON.stringify(
    {
      type: 'service_account',
      project_id: `harness-${suffix}`,
      private_key_id: randomBytes(20).toString('hex'),
      private_key: `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`,
      client_email: `pusher@harness-${suffix}.iam.gserviceaccount.com`,
      client_id: '104235981245639871234',
      token_uri: 'https://oauth2.googleapis.com/token',
    },
    null,
    2,
  );
}

const USERS: Record<string, string> = {
  'ci-user': `plain-${suffix}`,
  // Shell and JSON metacharacters, a colon (the Basic auth separator) and letters outside ASCII.
  // The spaces are inner ones: the docker CLI trims white space around a password.
  'odd-user': `it's "quoted" $HOME \`id\` back\\slash: = % # ünïcödé пароль ${suffix}`,
  _json_key: jsonKey(),
};

/**
 * Returns the strings whose presence in a file or a log means that a password leaked. They are
 * the password, its base64, and the base64 `user:password` of config.json `auth` fields. A
 * multi-line password adds each of its lines that is long enough to be secret on its own.
 */
function leakForms(user: string, password: string): string[] {
  const lines = password.split('\n').filter((line) => line.trim().length >= 16);
  return [
    password,
    Buffer.from(`${user}:${password}`).toString('base64'),
    Buffer.from(password).toString('base64'),
    ...(lines.length > 1 ? lines : []),
  ];
}

function outputOf(result: StepResult): string {
  return `${result.stdout}\n${result.stderr}`;
}

/** Returns the `::error` workflow commands of a step, which the job log shows as annotations. */
function errorAnnotations(result: StepResult): string {
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('::error'))
    .join('\n');
}

/** Returns the keys named `name` anywhere in a parsed JSON value, as dotted paths. */
function findKeys(value: unknown, name: string, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  const found: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const childPath = path ? `${path}.${key}` : key;
    if (key === name) found.push(childPath);
    found.push(...findKeys(child, name, childPath));
  }
  return found;
}

describe.skipIf(!canRunDockerd())('action end to end', { timeout: 300_000 }, () => {
  let root: string;
  let dockerd: Dockerd;
  let registry: Registry;
  let mirror: Mirror;
  const jobs: Job[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dpl-e2e-'));
    [dockerd, registry, mirror] = await Promise.all([
      startDockerd(join(root, 'docker')),
      startRegistry(join(root, 'registry'), USERS),
      startMirror({ tag: TAG }),
    ]);
  });

  afterEach(async () => {
    for (const job of jobs.splice(0)) await job.dispose();
  });

  afterAll(async () => {
    await mirror?.stop();
    await registry?.stop();
    await dockerd?.stop();
    await rm(root, { recursive: true, force: true });
  });

  async function newJob(): Promise<Job> {
    const job = await Job.create({ env: { DOCKER_HOST: dockerd.host } });
    jobs.push(job);
    return job;
  }

  function loginInputs(inputs: Record<string, string>): Record<string, string> {
    return {
      registry: registry.address,
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
      ...inputs,
    };
  }

  /** Checks that no step printed a secret, except in `::add-mask::` commands. */
  function expectNoLeakInOutput(job: Job, secrets: string[]): void {
    for (const step of job.steps.filter((entry) => !entry.printsSecret)) {
      for (const stream of ['stdout', 'stderr'] as const) {
        const text = step.result[stream]
          .split('\n')
          .filter((line) => !line.startsWith('::add-mask::'))
          .join('\n');
        for (const [index, secret] of secrets.entries()) {
          const leaked = text.includes(secret);
          expect(leaked, `step '${step.name}' ${stream} contains secret form ${index}`).toBe(false);
        }
      }
    }
  }

  async function expectNoLeakInFiles(job: Job, secrets: string[]): Promise<void> {
    const files = await findInTree(
      [job.root],
      secrets.map((secret) => Buffer.from(secret)),
    );
    expect(files, 'files that contain the password').toEqual([]);
  }

  /** Checks that no key, agent, socket or password store of the job remains. */
  async function expectCleanedUp(job: Job): Promise<void> {
    const entries = await walkTree([job.root]);
    const keys = entries.filter((entry) => /\/private-keys-v1\.d\/[^/]+\.key$/.test(entry.path));
    expect(keys, 'private keys left').toEqual([]);
    const sockets = entries.filter((entry) => entry.type === 'socket');
    expect(sockets, 'sockets left (gpg-agent)').toEqual([]);
    const stores = entries.filter((entry) =>
      /\/(docker-credential-helpers|\.gpg-id)$/.test(entry.path),
    );
    expect(stores, 'password store left').toEqual([]);
    expect(existsSync(join(job.home, '.password-store'))).toBe(false);
    expect(existsSync(join(job.home, '.gnupg', 'private-keys-v1.d'))).toBe(false);

    const processes = await findProcessesMentioning(job.runnerTemp);
    expect(processes, 'processes that name RUNNER_TEMP').toEqual([]);
  }

  /**
   * Checks the state after a successful main: the exported config folder, the helper wrapper on
   * PATH, config.json without plain credentials, and the exact credential in the helper.
   */
  async function expectLoggedIn(job: Job, main: StepResult, user: string): Promise<void> {
    expect(main.exitCode, describeResult(main)).toBe(0);
    expect(main.stdioHeldOpen, 'a process of main kept its stdout open').toBe(false);

    const configDir = main.outputs['config-dir'];
    expect(configDir.startsWith(`${job.runnerTemp}/`), configDir).toBe(true);
    expect(main.exportedEnv.DOCKER_CONFIG).toBe(configDir);
    expect(main.outputs['key-fingerprint']).toMatch(/^[0-9A-F]{40}$/i);

    const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8'));
    expect(findKeys(config, 'auth'), 'auth fields in config.json').toEqual([]);
    expect(findKeys(config, 'password'), 'password fields in config.json').toEqual([]);
    expect(findKeys(config, 'identitytoken'), 'identity tokens in config.json').toEqual([]);
    const helperName: unknown = config.credHelpers?.[registry.address];
    expect(typeof helperName, JSON.stringify(config)).toBe('string');

    // The wrapper the CLI runs for this registry lies in a folder that main added to PATH.
    const wrapper = `docker-credential-${helperName}`;
    const holders = [];
    for (const folder of main.addedPath) {
      if (existsSync(folder) && (await readdir(folder)).includes(wrapper)) holders.push(folder);
    }
    expect(holders, `${wrapper} in ${main.addedPath.join(', ')}`).not.toEqual([]);

    // bcrypt checks only 72 bytes of a password, so compare the stored secret byte for byte.
    const stored = await job.run(wrapper, ['get'], { input: registry.address, printsSecret: true });
    expect(stored.exitCode, `${wrapper} get: exit ${stored.exitCode} ${stored.stderr}`).toBe(0);
    const credential = JSON.parse(stored.stdout) as { Username: string; Secret: string };
    expect(credential.Username).toBe(user);
    expect(credential.Secret === USERS[user], 'stored secret equals the password').toBe(true);
  }

  async function expectPushSucceeds(job: Job, ref: string): Promise<void> {
    await makeImage(dockerd.host, ref);
    const push = await job.run('docker', ['push', ref]);
    expect(push.exitCode, describeResult(push)).toBe(0);
  }

  async function expectPushRejected(job: Job, ref: string): Promise<void> {
    await makeImage(dockerd.host, ref);
    const push = await job.run('docker', ['push', ref]);
    expect(push.exitCode, describeResult(push)).not.toBe(0);
    expect(outputOf(push)).toMatch(/no basic auth credentials|unauthorized|denied/i);
  }

  test('login, push and clean up', async () => {
    const job = await newJob();
    const user = 'ci-user';
    const secrets = leakForms(user, USERS[user]);

    const userConfigFile = join(job.home, '.docker', 'config.json');
    const userConfig = {
      proxies: { default: { noProxy: '127.0.0.1,localhost' } },
      auths: { 'other.example': { auth: Buffer.from('someone:else').toString('base64') } },
      detachKeys: 'ctrl-e,e',
    };
    await mkdir(join(job.home, '.docker'));
    await writeFile(userConfigFile, `${JSON.stringify(userConfig, null, '\t')}\n`);
    const userConfigBytes = await readFile(userConfigFile);

    const main = await job.runAction(
      'main',
      loginInputs({ username: user, password: USERS[user] }),
    );
    await expectLoggedIn(job, main, user);
    // docker login prints this warning only when it writes the password into config.json. The
    // action logs docker's output at debug level, so the warning would show there.
    expect(outputOf(main)).not.toMatch(/stored unencrypted/i);
    expect(main.stdout).toMatch(/::debug::Login Succeeded/);
    // The job summary names the registry, the helper release, the key and what post removes.
    expect(main.summary).toContain(`| Registries | \`${registry.address}\` |`);
    expect(main.summary).toContain(`| docker-credential-pass | ${TAG} from ${mirror.baseUrl}`);
    expect(main.summary).toContain(`| Key fingerprint | \`${main.outputs['key-fingerprint']}\` |`);
    expect(main.summary).toContain(`| Docker config folder | \`${main.outputs['config-dir']}\` |`);
    expect(main.summary).toMatch(/\| Post step will \| log out of the registry, delete the key/);
    const assetRequests = mirror.requests.map((request) => request.path);
    expect(assetRequests).toContain(mirror.checksumsPath);
    expect(assetRequests).toContain(mirror.assetPath);

    await expectPushSucceeds(job, `${registry.address}/app:1`);
    await expectNoLeakInFiles(job, secrets);
    expect((await readFile(userConfigFile)).equals(userConfigBytes)).toBe(true);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    expect(post.stdioHeldOpen).toBe(false);

    await expectPushRejected(job, `${registry.address}/app:2`);
    await expectCleanedUp(job);
    await expectNoLeakInFiles(job, secrets);
    expect((await readFile(userConfigFile)).equals(userConfigBytes)).toBe(true);
    expectNoLeakInOutput(job, secrets);
  });

  test.each([
    ['odd-user', 'odd'],
    ['_json_key', 'json-key'],
  ])('password of %s logs in and pushes', async (user, repository) => {
    const job = await newJob();
    const secrets = leakForms(user, USERS[user]);

    const main = await job.runAction(
      'main',
      loginInputs({ username: user, password: USERS[user] }),
    );
    await expectLoggedIn(job, main, user);
    await expectPushSucceeds(job, `${registry.address}/${repository}:1`);
    await expectNoLeakInFiles(job, secrets);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    await expectPushRejected(job, `${registry.address}/${repository}:2`);
    await expectCleanedUp(job);
    await expectNoLeakInFiles(job, secrets);
    expectNoLeakInOutput(job, secrets);
  });

  test('wrong password fails main', async () => {
    const job = await newJob();
    const user = 'ci-user';
    const wrongPassword = `wrong-${suffix}`;
    const secrets = leakForms(user, wrongPassword);

    const main = await job.runAction(
      'main',
      loginInputs({ username: user, password: wrongPassword }),
    );
    expect(main.exitCode, describeResult(main)).not.toBe(0);
    const errors = errorAnnotations(main);
    expect(errors).toContain(registry.address);
    expect(errors).toContain(user);
    expect(errors).toMatch(/rejected/i);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    await expectCleanedUp(job);
    await expectNoLeakInFiles(job, secrets);
    expectNoLeakInOutput(job, secrets);
  });

  test('unreachable registry fails main', async () => {
    const job = await newJob();
    // Nothing listens on a port that was free a moment ago, so connections are refused.
    const address = `127.0.0.1:${await freePort()}`;
    const password = `unused-${suffix}`;

    // One retry after 100 ms runs the retry path without the default delays.
    const main = await job.runAction(
      'main',
      loginInputs({
        registry: address,
        username: 'ci-user',
        password,
        retries: '1',
        'retry-delay': '100ms',
      }),
    );
    expect(main.exitCode, describeResult(main)).not.toBe(0);
    expect(errorAnnotations(main)).toContain(address);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    await expectCleanedUp(job);
    expectNoLeakInOutput(job, leakForms('ci-user', password));
  });
});
