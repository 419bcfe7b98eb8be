/**
 * End-to-end tests of runners that lack a tool or have an unsuitable one: no gpg, no docker, a
 * getopt that is not GNU getopt, and a gpg older than 2.1. Each job gets a PATH of one folder
 * with links to every executable of the normal PATH except the tool in question, and with a
 * shim script in its place where the test needs one.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { annotations, runPostAndExpectClean } from '../support/cleanup.js';
import { describeResult, findExecutable } from '../support/exec.js';
import { startRegistryProxy } from '../support/proxy.js';
import { startServices, type Services } from '../support/action.js';
import { Job } from '../support/runner.js';
import {
  canRunDockerd,
  makeImage,
  type Dockerd,
  type Mirror,
  type Registry,
} from '../support/services.js';
import { linkExecutablesExcept } from '../support/tool-path.js';

const TAG = 'v0.8.0-local';
const USER = 'ci-user';
const PASSWORD = `tools-${randomBytes(6).toString('hex')}`;
const NORMAL_PATH = process.env.PATH ?? '/usr/bin:/bin';

/** A getopt that responds to `--test` as BSD getopt does: ` --` and exit code 0. */
const BSD_GETOPT = '#!/bin/sh\necho " --"\nexit 0\n';

/** A gpg that reports version 2.0.30 and otherwise runs the real gpg. */
function oldGpg(realGpg: string): string {
  return [
    '#!/bin/sh',
    'if [ "$1" = --version ]; then',
    '  echo "gpg (GnuPG) 2.0.30"',
    '  echo "libgcrypt 1.7.6"',
    '  exit 0',
    'fi',
    `exec ${realGpg} "$@"`,
    '',
  ].join('\n');
}

describe.skipIf(!canRunDockerd())('missing and unsuitable tools', { timeout: 120_000 }, () => {
  let root: string;
  let dockerd: Dockerd;
  let registry: Registry;
  let mirror: Mirror;
  const jobs: Job[] = [];

  let services: Services | undefined;

  beforeAll(async () => {
    services = await startServices([{ [USER]: PASSWORD }]);
    ({ root, dockerd, mirror } = services);
    registry = services.registries[0];
  });

  afterAll(async () => {
    for (const job of jobs) await job.dispose();
    await services?.stop();
  });

  /**
   * Returns a PATH of one new folder: links to the executables of the normal PATH except
   * `removed`, and the `shims` scripts by name.
   */
  async function toolPath(removed: string[], shims: Record<string, string> = {}) {
    const folder = await mkdtemp(join(root, 'path-'));
    await linkExecutablesExcept(folder, [...removed, ...Object.keys(shims)], NORMAL_PATH);
    for (const [name, script] of Object.entries(shims)) {
      await writeFile(join(folder, name), script, { mode: 0o755 });
    }
    return folder;
  }

  async function newJob(path: string): Promise<Job> {
    const job = await Job.create({ env: dockerd.env, path });
    jobs.push(job);
    return job;
  }

  function inputs(values: Record<string, string> = {}): Record<string, string> {
    return {
      registry: registry.address,
      username: USER,
      password: PASSWORD,
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
      retries: '0',
      ...values,
    };
  }

  /** Runs the wrapper's `get` for `server` and returns the parsed credential. */
  async function storedCredential(job: Job, configDir: string, server: string) {
    const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8'));
    const wrapper = `docker-credential-${config.credHelpers[server]}`;
    const get = await job.run(wrapper, ['get'], { input: server, printsSecret: true });
    expect(get.exitCode, `${wrapper} get: ${get.stdout} ${get.stderr}`).toBe(0);
    return JSON.parse(get.stdout) as { Username: string; Secret: string };
  }

  test.each([
    ['gpg', 'sudo apt-get install gnupg'],
    ['getopt', 'sudo apt-get install util-linux'],
  ])('missing %s names the install', async (tool, install) => {
    const job = await newJob(await toolPath([tool]));

    const main = await job.runAction('main', inputs());
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain(`Required tools are not found: ${tool}.`);
    expect(errors).toContain(install);

    await runPostAndExpectClean(job);
  });

  test('BSD getopt is rejected', async () => {
    const path = await toolPath([], { getopt: BSD_GETOPT });
    const job = await newJob(path);

    const main = await job.runAction('main', inputs());
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain(`${join(path, 'getopt')} is not GNU getopt`);
    expect(errors).toContain('sudo apt-get install util-linux');

    await runPostAndExpectClean(job);
  });

  test('gpg 2.0 is rejected', async () => {
    const realGpg = findExecutable('gpg', NORMAL_PATH) as string;
    const job = await newJob(await toolPath([], { gpg: oldGpg(realGpg) }));

    const main = await job.runAction('main', inputs());
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain('gpg 2.0.30 is too old');
    expect(errors).toContain('GnuPG 2.1 or newer');
    expect(errors).toContain('sudo apt-get install gnupg');

    await runPostAndExpectClean(job);
  });

  test('missing docker logs in by API', async () => {
    const job = await newJob(await toolPath(['docker']));

    const main = await job.runAction('main', inputs());
    expect(main.exitCode, describeResult(main)).toBe(0);
    expect(main.stdout).toContain('docker is not on PATH');
    const credential = await storedCredential(job, main.outputs['config-dir'], registry.address);
    expect(credential.Username).toBe(USER);
    expect(credential.Secret === PASSWORD, 'stored secret equals the password').toBe(true);

    const ref = `${registry.address}/no-docker:1`;
    await makeImage(dockerd.host, ref);
    const push = await job.run('docker', ['push', ref], { basePath: NORMAL_PATH });
    expect(push.exitCode, describeResult(push)).toBe(0);

    // Post runs without docker too, so the helper erases the credential itself.
    await runPostAndExpectClean(job);
  });

  test('API login rejects once', async () => {
    const proxy = await startRegistryProxy(registry.address);
    try {
      const job = await newJob(await toolPath(['docker']));

      const main = await job.runAction(
        'main',
        inputs({ registry: proxy.address, password: 'wrong', retries: '2' }),
      );
      expect(main.exitCode, describeResult(main)).toBe(1);
      const errors = annotations(main, 'error');
      expect(errors).toContain(`Registry ${proxy.address} rejected the credentials`);
      expect(errors).toContain(`user '${USER}'`);
      const attempts = proxy.requests.filter((request) => request.authorized);
      expect(attempts, 'requests with credentials').toHaveLength(1);

      await runPostAndExpectClean(job);
    } finally {
      await proxy.stop();
    }
  });

  test('API login retries a 503', async () => {
    const proxy = await startRegistryProxy(registry.address);
    try {
      const job = await newJob(await toolPath(['docker']));
      proxy.setFault({ type: 'status', status: 503 }, 1);

      const main = await job.runAction(
        'main',
        inputs({ registry: proxy.address, retries: '2', 'retry-delay': '100ms' }),
      );
      expect(main.exitCode, describeResult(main)).toBe(0);
      expect(main.stdout).toContain('Attempt 1 of 3; retrying.');
      const credential = await storedCredential(job, main.outputs['config-dir'], proxy.address);
      expect(credential.Secret === PASSWORD, 'stored secret equals the password').toBe(true);

      await runPostAndExpectClean(job);
    } finally {
      await proxy.stop();
    }
  });
});
