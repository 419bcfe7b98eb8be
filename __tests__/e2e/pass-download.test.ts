/**
 * End-to-end tests of runners without pass, such as GitHub's ubuntu-24.04 images: the action
 * downloads the pass 1.7.4 release tarball from its `pass-mirror` input, checks its sha256 and
 * runs the unpacked script. The mirror serves the real tarball, which `scripts/setup.sh` puts at
 * `__tests__/.downloads/` from Debian's byte-identical `password-store_1.7.4.orig.tar.xz`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
} from '../support/checks.js';
import { describeResult, findExecutable } from '../support/exec.js';
import { Job, REPO_ROOT } from '../support/runner.js';
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
import { linkExecutablesExcept } from '../support/tool-path.js';

const TAG = 'v0.8.0-local';
const TARBALL_NAME = 'password-store-1.7.4.tar.xz';
const TARBALL = join(REPO_ROOT, '__tests__', '.downloads', TARBALL_NAME);
const TARBALL_PATH = `/${TARBALL_NAME}`;
/** The sha256 that the pass project publishes for its 1.7.4 release tarball. */
const TARBALL_SHA256 = 'cfa9faf659f2ed6b38e7a7c3fb43e177d00edbacc6265e6e32215ff40e3793c0';
const suffix = randomBytes(8).toString('hex');
const USER = 'ci-user';
const PASSWORD = `plain-${suffix}`;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

// A CI run must exercise the download, so there a missing tarball fails instead of skipping.
test.runIf(process.env.CI)('pass tarball is present', async () => {
  expect(existsSync(TARBALL), `${TARBALL} is missing: run scripts/setup.sh`).toBe(true);
  expect(sha256(await readFile(TARBALL))).toBe(TARBALL_SHA256);
});

describe.skipIf(!canRunDockerd() || !existsSync(TARBALL))(
  'pass downloaded from the mirror',
  { timeout: 300_000 },
  () => {
    let root: string;
    /** Job folder that two tests share, so that the second finds the first's tool cache. */
    let cachedRoot: string;
    let dockerd: Dockerd;
    let registry: Registry;
    let mirror: Mirror;
    /** A PATH with every tool of the test process's PATH except pass. */
    let pathWithoutPass: string;
    const jobs: Job[] = [];

    beforeAll(async () => {
      root = await mkdtemp(join(tmpdir(), 'dpl-pass-'));
      cachedRoot = await mkdtemp(join(tmpdir(), 'dpl-pjob-'));
      [dockerd, registry, mirror, pathWithoutPass] = await Promise.all([
        startDockerd(join(root, 'docker')),
        startRegistry(join(root, 'registry'), { [USER]: PASSWORD }),
        startMirror({ tag: TAG, extraFiles: { [TARBALL_PATH]: TARBALL } }),
        linkExecutablesExcept(join(root, 'path'), ['pass']),
      ]);
    });

    afterEach(async () => {
      mirror.clearFaults();
      for (const job of jobs.splice(0)) await job.dispose();
    });

    afterAll(async () => {
      await mirror?.stop();
      await registry?.stop();
      await dockerd?.stop();
      await rm(cachedRoot, { recursive: true, force: true });
      await rm(root, { recursive: true, force: true });
    });

    async function newJob(jobRoot?: string): Promise<Job> {
      const job = await Job.create({ root: jobRoot, path: pathWithoutPass, env: dockerd.env });
      jobs.push(job);
      return job;
    }

    function runMain(job: Job) {
      return job.runAction('main', {
        registry: registry.address,
        username: USER,
        password: PASSWORD,
        'helper-version': TAG,
        'helper-mirror': mirror.baseUrl,
        'pass-mirror': mirror.baseUrl,
      });
    }

    function tarballDownloads(): number {
      return mirror.requests.filter((request) => request.path === TARBALL_PATH).length;
    }

    const cachedPass = (job: Job) => join(job.toolCache, 'password-store', '1.7.4', 'any');

    async function expectPushSucceeds(job: Job, ref: string): Promise<void> {
      await makeImage(dockerd.host, ref);
      const pushed = await job.run('docker', ['push', ref]);
      expect(pushed.exitCode, describeResult(pushed)).toBe(0);
    }

    test('path has no pass', () => {
      expect(findExecutable('pass', pathWithoutPass)).toBeUndefined();
      expect(findExecutable('gpg', pathWithoutPass)).toBeDefined();
    });

    // Without pass the action downloads from pass-mirror, so its default must not be used here.
    test('default pass-mirror is rejected', async () => {
      const job = await newJob();
      const inputs = {
        registry: registry.address,
        username: USER,
        password: PASSWORD,
        'helper-mirror': mirror.baseUrl,
      };
      await expect(job.runAction('main', inputs)).rejects.toThrow(
        /'pass-mirror' names .*, which is not a loopback address/,
      );
      expect(job.steps).toHaveLength(0);
    });

    test('pass from mirror logs in', async () => {
      const job = await newJob(cachedRoot);
      const secrets = leakForms(USER, PASSWORD);
      const downloadsBefore = tarballDownloads();

      const main = await runMain(job);
      const wrapper = await expectLoggedIn(job, main, [registry.address]);
      expect(tarballDownloads() - downloadsBefore, 'tarball downloads').toBe(1);
      expect(existsSync(join(cachedPass(job), 'src', 'password-store.sh'))).toBe(true);
      await expectStoredCredential(job, wrapper, registry.address, {
        user: USER,
        secret: PASSWORD,
      });
      await expectPushSucceeds(job, `${registry.address}/pass-download:1`);
      await expectNoLeakInFiles(job, secrets);

      const post = await job.runAction('post');
      expect(post.exitCode, describeResult(post)).toBe(0);
      const ref = `${registry.address}/pass-download:2`;
      await makeImage(dockerd.host, ref);
      const after = await job.run('docker', ['push', ref]);
      expect(after.exitCode, 'push after post').not.toBe(0);
      expect(isAuthError(after), describeResult(after)).toBe(true);
      await expectCleanedUp(job);
      expectNoLeakInOutput(job, secrets);
    });

    // Runs in the folder of the test above, as a later job on the same self-hosted runner.
    test('second job uses tool cache', async () => {
      const job = await newJob(cachedRoot);
      expect(existsSync(cachedPass(job)), 'pass in the tool cache of the test above').toBe(true);
      const downloadsBefore = tarballDownloads();

      const main = await runMain(job);
      const wrapper = await expectLoggedIn(job, main, [registry.address]);
      expect(tarballDownloads() - downloadsBefore, 'tarball downloads').toBe(0);
      await expectStoredCredential(job, wrapper, registry.address, {
        user: USER,
        secret: PASSWORD,
      });
      await expectPushSucceeds(job, `${registry.address}/pass-cached:1`);

      const post = await job.runAction('post');
      expect(post.exitCode, describeResult(post)).toBe(0);
      await expectCleanedUp(job);
    });

    test('changed tarball byte fails main', async () => {
      const job = await newJob();
      const tampered = Buffer.from(await readFile(TARBALL));
      const middle = Math.floor(tampered.length / 2);
      tampered[middle] ^= 0x01;
      mirror.setFault(TARBALL_PATH, { type: 'body', body: tampered });

      const main = await runMain(job);
      expect(main.exitCode, describeResult(main)).not.toBe(0);
      const errors = errorAnnotations(main);
      expect(errors).toContain(`${mirror.baseUrl}${TARBALL_PATH}`);
      expect(errors).toContain(TARBALL_SHA256);
      expect(errors).toContain(sha256(tampered));
      expect(existsSync(cachedPass(job)), 'tampered pass in the tool cache').toBe(false);

      const post = await job.runAction('post');
      expect(post.exitCode, describeResult(post)).toBe(0);
      await expectCleanedUp(job);
    });
  },
);
