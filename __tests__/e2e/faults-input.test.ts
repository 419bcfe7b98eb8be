/**
 * End-to-end tests of bad or unusual input: empty and blank credentials, long and multi-line
 * passwords, a HOME that cannot be written or does not exist, and a RUNNER_TEMP that is unset or
 * too long for the gpg-agent socket. Every test also runs post and checks that nothing is left.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { annotations, runPostAndExpectClean } from '../support/cleanup.js';
import { describeResult } from '../support/exec.js';
import { Job, type JobOptions } from '../support/runner.js';
import {
  canRunDockerd,
  createDockerClient,
  makeImage,
  startDockerd,
  startMirror,
  startRegistry,
  type Dockerd,
  type Mirror,
  type Registry,
} from '../support/services.js';

const TAG = 'v0.8.0-local';
const suffix = randomBytes(6).toString('hex');

/** The uid and gid of `nobody` on Debian, for steps that must not run as root. */
const NOBODY = { uid: 65534, gid: 65534 };

/**
 * The longest agent socket path that works: GnuPG 2.2.40 starts no agent for a 107-byte path,
 * although sun_path is 108 bytes with the NUL (measured with `gpgconf --launch gpg-agent`).
 */
const MAX_SOCKET_PATH = 106;

/** The longest RUNNER_TEMP for which `<RUNNER_TEMP>/dpl-<8 hex>/g/S.gpg-agent.browser` fits. */
const MAX_RUNNER_TEMP = MAX_SOCKET_PATH - '/dpl-01234567/g/S.gpg-agent.browser'.length;

/** Passwords as the registry stores them, by user. */
const USERS: Record<string, string> = {
  plain: `plain-${suffix}`,
  // Access tokens of some clouds are this long. bcrypt checks only the first 72 bytes.
  long: randomBytes(6144).toString('base64'),
  crlf: `first-${suffix}\r\nsecond\nthird\rfourth`,
  newline: `newline-${suffix}`,
  'cr-newline': `cr-newline-${suffix}`,
};

describe.skipIf(!canRunDockerd())('bad and unusual input', { timeout: 120_000 }, () => {
  let root: string;
  let dockerd: Dockerd;
  let registry: Registry;
  let mirror: Mirror;
  const jobs: Job[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dpl-fi-'));
    [dockerd, registry, mirror] = await Promise.all([
      startDockerd(join(root, 'docker')),
      startRegistry(join(root, 'registry'), USERS),
      startMirror({ tag: TAG }),
    ]);
  });

  afterAll(async () => {
    for (const job of jobs) await job.dispose();
    await mirror?.stop();
    await registry?.stop();
    await dockerd?.stop();
    await rm(root, { recursive: true, force: true });
  });

  async function newJob(options: JobOptions = {}): Promise<Job> {
    const job = await Job.create({ env: dockerd.env, ...options });
    jobs.push(job);
    return job;
  }

  function inputs(values: Record<string, string>): Record<string, string> {
    return {
      registry: registry.address,
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
      retries: '0',
      ...values,
    };
  }

  /** Returns the `get` output of the helper wrapper that main wrote, parsed. */
  async function storedCredential(job: Job, configDir: string) {
    const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8'));
    const wrapper = `docker-credential-${config.credHelpers[registry.address]}`;
    const get = await job.run(wrapper, ['get'], { input: registry.address, printsSecret: true });
    expect(get.exitCode, `${wrapper} get: ${get.stderr}`).toBe(0);
    return JSON.parse(get.stdout) as { Username: string; Secret: string };
  }

  async function expectPush(job: Job, repository: string, env = {}): Promise<void> {
    const ref = `${registry.address}/${repository}:1`;
    await makeImage(dockerd.host, ref);
    const push = await job.run('docker', ['push', ref], { env });
    expect(push.exitCode, describeResult(push)).toBe(0);
  }

  /**
   * Returns the password that a plain `docker login --password-stdin` stores for `input`, read
   * from the `auth` field of a config.json without a credential helper.
   */
  async function passwordStoredByDocker(user: string, input: string): Promise<string> {
    const folder = await mkdtemp(join(root, 'plain-'));
    const client = await createDockerClient(folder, dockerd.host);
    const args = ['login', '--username', user, '--password-stdin', registry.address];
    const login = await client.run(args, input);
    expect(login.exitCode, describeResult(login)).toBe(0);
    const config = JSON.parse(await readFile(join(client.configDir, 'config.json'), 'utf8'));
    const auth = Buffer.from(config.auths[registry.address].auth, 'base64').toString('utf8');
    return auth.slice(auth.indexOf(':') + 1);
  }

  test.each([
    ['username', 'empty', ''],
    ['username', 'blank', ' \t '],
    ['password', 'empty', ''],
    ['password', 'blank', ' \n '],
  ])('%s %s is rejected', async (input, _kind, value) => {
    const job = await newJob();
    const values = { username: 'plain', password: USERS.plain, [input]: value };
    const requestsBefore = mirror.requests.length;

    const main = await job.runAction('main', inputs(values));
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain(`Input '${input}'`);
    expect(errors).toMatch(/pull requests from forks/);
    expect(mirror.requests.length, 'downloads before the input check').toBe(requestsBefore);

    await runPostAndExpectClean(job);
  });

  test('registry-auth entry without password', async () => {
    const job = await newJob();
    const list = `- registry: ${registry.address}\n  username: plain\n  password: ''\n`;

    const main = await job.runAction('main', {
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
      'registry-auth': list,
    });
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain("Input 'registry-auth', entry 1, 'password' is empty");
    expect(errors).toMatch(/pull requests from forks/);

    await runPostAndExpectClean(job);
  });

  test.each([
    ['long', USERS.long],
    ['crlf', USERS.crlf],
    ['newline', `${USERS.newline}\n`],
    ['cr-newline', `${USERS['cr-newline']}\r\n`],
  ])('password of %s logs in', async (user, password) => {
    const job = await newJob();

    const main = await job.runAction('main', inputs({ username: user, password }));
    expect(main.exitCode, describeResult(main)).toBe(0);

    // The registry's bcrypt check reads 72 bytes at most, so compare the stored secret in full.
    const credential = await storedCredential(job, main.outputs['config-dir']);
    expect(credential.Username).toBe(user);
    expect(credential.Secret.length).toBe(USERS[user].length);
    expect(credential.Secret === USERS[user], 'stored secret equals the password').toBe(true);
    const byDocker = await passwordStoredByDocker(user, password);
    expect(credential.Secret === byDocker, 'stored secret equals what docker stores').toBe(true);

    await expectPush(job, `password-${user}`);
    await runPostAndExpectClean(job);
  });

  test('HOME not writable', async () => {
    // Root writes to any folder whatever its mode, so the job runs as nobody. Its steps reach
    // the test dockerd through the socket, which is opened to them here.
    const socket = dockerd.host.replace(/^unix:\/\//, '');
    for (let folder = dirname(socket); folder !== tmpdir(); folder = dirname(folder)) {
      await chmod(folder, 0o711);
    }
    await chmod(socket, 0o666);
    const job = await newJob({ user: NOBODY });
    await chmod(job.home, 0o500);

    const main = await job.runAction('main', inputs({ username: 'plain', password: USERS.plain }));
    expect(main.exitCode, describeResult(main)).toBe(0);
    await expectPush(job, 'home-read-only');

    await runPostAndExpectClean(job);
  });

  test('HOME missing', async () => {
    const job = await newJob();
    const home = join(job.root, 'missing-home');
    const env = { HOME: home };

    const main = await job.runAction('main', inputs({ username: 'plain', password: USERS.plain }), {
      env,
    });
    expect(main.exitCode, describeResult(main)).toBe(0);
    await expectPush(job, 'home-missing', env);

    await runPostAndExpectClean(job, { env });
    expect(existsSync(home), 'HOME created by a step').toBe(false);
  });

  test('RUNNER_TEMP unset', async () => {
    const job = await newJob();
    const env = { RUNNER_TEMP: undefined };

    const main = await job.runAction('main', inputs({ username: 'plain', password: USERS.plain }), {
      env,
    });
    expect(main.exitCode, describeResult(main)).toBe(1);
    expect(annotations(main, 'error')).toContain('RUNNER_TEMP is not set');

    await runPostAndExpectClean(job, { env });
  });

  /**
   * Returns a job whose RUNNER_TEMP (`<root>/temp`) is `length` bytes long, under a new folder
   * that the caller removes.
   */
  async function jobWithRunnerTemp(length: number): Promise<{ job: Job; base: string }> {
    const base = await mkdtemp(join(tmpdir(), 'dpl-long-'));
    const name = 'x'.repeat(length - base.length - '/'.length - '/temp'.length);
    const jobRoot = join(base, name);
    await mkdir(jobRoot);
    const job = await newJob({ root: jobRoot });
    expect(Buffer.byteLength(job.runnerTemp), 'bytes of RUNNER_TEMP').toBe(length);
    return { job, base };
  }

  test('RUNNER_TEMP at socket limit', async () => {
    const { job, base } = await jobWithRunnerTemp(MAX_RUNNER_TEMP);
    try {
      const values = inputs({ username: 'plain', password: USERS.plain });
      const main = await job.runAction('main', values);
      expect(main.exitCode, describeResult(main)).toBe(0);
      await expectPush(job, 'long-runner-temp');

      await runPostAndExpectClean(job);
    } finally {
      await job.dispose();
      await rm(base, { recursive: true, force: true });
    }
  });

  test('RUNNER_TEMP one byte too long', async () => {
    const { job, base } = await jobWithRunnerTemp(MAX_RUNNER_TEMP + 1);
    try {
      const values = inputs({ username: 'plain', password: USERS.plain });
      const main = await job.runAction('main', values);
      expect(main.exitCode, describeResult(main)).toBe(1);
      const errors = annotations(main, 'error');
      expect(errors).toContain(`RUNNER_TEMP '${job.runnerTemp}' is too long`);

      await runPostAndExpectClean(job);
    } finally {
      await job.dispose();
      await rm(base, { recursive: true, force: true });
    }
  });
});
