/**
 * End-to-end tests of faults while the action installs docker-credential-pass: a tag the mirror
 * does not have, digests that do not match, a corrupted tool-cache entry, and a mirror that is
 * down or responds with server errors. @actions/tool-cache 4.0 tries a download 3 times and
 * sleeps 10 to 20 s between tries, so the tests of those faults take 20 to 40 s each. They run
 * concurrently, each with its own mirror.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { annotations, runnerTempFiles, runPostAndExpectClean } from '../support/cleanup.js';
import { describeResult } from '../support/exec.js';
import { walkTree } from '../support/inspect.js';
import { startServices, type Services } from '../support/action.js';
import { Job } from '../support/runner.js';
import {
  canRunDockerd,
  freePort,
  makeImage,
  startMirror,
  type Dockerd,
  type Mirror,
  type MirrorRequest,
  type Registry,
} from '../support/services.js';

const TAG = 'v0.8.0-local';
/** The action's default `helper-version`, for which it carries the sha256 itself. */
const DEFAULT_TAG = 'v0.9.8';
/** sha256 of docker-credential-pass-v0.9.8.linux-amd64 as the action carries it. */
const DEFAULT_DIGEST = '3ae93407d42dc90bd0393b0a50da3ce95246d3f30c3255225cb6b0401cd74cac';

const USER = 'ci-user';
const PASSWORD = `download-${randomBytes(6).toString('hex')}`;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Returns the milliseconds between consecutive requests for `path`. */
function gapsBetween(requests: MirrorRequest[], path: string): number[] {
  const times = requests.filter((request) => request.path === path).map((r) => r.receivedAt);
  return times.slice(1).map((time, index) => time - times[index]);
}

/** Returns the sleeps that @actions/tool-cache logged, in seconds. */
function retrySleeps(output: string): number[] {
  return [...output.matchAll(/Waiting (\d+) seconds before trying again/g)].map((m) =>
    Number(m[1]),
  );
}

describe.skipIf(!canRunDockerd())('helper download faults', { timeout: 120_000 }, () => {
  let dockerd: Dockerd;
  let registry: Registry;
  let mirror: Mirror;
  const jobs: Job[] = [];

  let services: Services | undefined;

  beforeAll(async () => {
    services = await startServices([{ [USER]: PASSWORD }]);
    ({ dockerd, mirror } = services);
    registry = services.registries[0];
  });

  afterEach(() => mirror.clearFaults());

  afterAll(async () => {
    for (const job of jobs) await job.dispose();
    await services?.stop();
  });

  async function newJob(): Promise<Job> {
    const job = await Job.create({ env: dockerd.env });
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

  /**
   * Checks that a failed install left no downloaded file in RUNNER_TEMP and nothing in the cache.
   * The empty work folder stays for post, which removes it.
   */
  async function expectNoDownloadLeft(job: Job): Promise<void> {
    expect(await runnerTempFiles(job), 'files in RUNNER_TEMP after main').toEqual([]);
    expect(await readdir(job.toolCache), 'entries in the tool cache').toEqual([]);
  }

  test('unknown tag names URL and tag', async () => {
    const job = await newJob();
    const tag = 'v0.9.7';

    const main = await job.runAction('main', inputs({ 'helper-version': tag }));
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain(`${mirror.baseUrl}/${tag}/checksums.txt`);
    expect(errors).toContain('HTTP 404');
    expect(errors).toContain(`release ${tag}`);
    await expectNoDownloadLeft(job);

    await runPostAndExpectClean(job);
  });

  test('checksum mismatch deletes the file', async () => {
    const job = await newJob();
    mirror.setFault(mirror.checksumsPath, { type: 'wrong-checksum' });
    // The digest that the mirror's `wrong-checksum` fault lists.
    const listed = createHash('sha256').update(mirror.binary).update('other').digest('hex');

    const main = await job.runAction('main', inputs());
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain(`Checksum mismatch for ${mirror.baseUrl}${mirror.assetPath}`);
    expect(errors).toContain(`expected sha256 ${listed}`);
    expect(errors).toContain(`got ${mirror.sha256}`);
    await expectNoDownloadLeft(job);

    await runPostAndExpectClean(job);
  });

  test('truncated file fails the checksum', async () => {
    const job = await newJob();
    const truncated = mirror.binary.subarray(0, 4096);
    mirror.setFault(mirror.assetPath, { type: 'body', body: truncated });

    const main = await job.runAction('main', inputs());
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain(`expected sha256 ${mirror.sha256}`);
    expect(errors).toContain(`got ${sha256(truncated)}`);
    await expectNoDownloadLeft(job);

    await runPostAndExpectClean(job);
  });

  test('default tag ignores mirror checksums', async () => {
    // The mirror lists the right digest of Debian's build, which is not the release binary.
    const releaseMirror = await startMirror({ tag: DEFAULT_TAG });
    try {
      const job = await newJob();
      // Without a helper-version input the action uses its default.
      const values = inputs({ 'helper-mirror': releaseMirror.baseUrl });
      delete values['helper-version'];

      const main = await job.runAction('main', values);
      expect(main.exitCode, describeResult(main)).toBe(1);
      const errors = annotations(main, 'error');
      expect(errors).toContain(`${releaseMirror.baseUrl}${releaseMirror.assetPath}`);
      expect(errors).toContain(`expected sha256 ${DEFAULT_DIGEST}`);
      expect(errors).toContain(`got ${releaseMirror.sha256}`);
      const paths = releaseMirror.requests.map((request) => request.path);
      expect(paths, 'requests to the mirror').not.toContain(releaseMirror.checksumsPath);
      await expectNoDownloadLeft(job);

      await runPostAndExpectClean(job);
    } finally {
      await releaseMirror.stop();
    }
  });

  test('corrupted cache entry is replaced', async () => {
    const job = await newJob();
    const first = await job.runAction('main', inputs(), { id: 'first' });
    expect(first.exitCode, describeResult(first)).toBe(0);
    await runPostAndExpectClean(job, { id: 'first' });

    const cached = (await walkTree([job.toolCache])).filter(
      (entry) => entry.type === 'file' && entry.path.endsWith('/docker-credential-pass'),
    );
    expect(cached, 'cached binaries').toHaveLength(1);
    const bytes = await readFile(cached[0].path);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(cached[0].path, bytes);
    const downloads = () => mirror.requests.filter((r) => r.path === mirror.assetPath).length;
    const downloadsBefore = downloads();

    const second = await job.runAction('main', inputs(), { id: 'second' });
    expect(second.exitCode, describeResult(second)).toBe(0);
    expect(annotations(second, 'warning')).toMatch(
      /cached docker-credential-pass\S* in .* does not match/,
    );
    expect(downloads(), 'downloads of the binary').toBe(downloadsBefore + 1);
    expect(sha256(await readFile(cached[0].path))).toBe(mirror.sha256);

    const ref = `${registry.address}/cache-repaired:1`;
    await makeImage(dockerd.host, ref);
    const push = await job.run('docker', ['push', ref]);
    expect(push.exitCode, describeResult(push)).toBe(0);

    await runPostAndExpectClean(job, { id: 'second' });
  });

  test('cache swapped after main is not run', async () => {
    const job = await newJob();
    const main = await job.runAction('main', inputs(), { id: 'swap' });
    expect(main.exitCode, describeResult(main)).toBe(0);

    // Another process of the same user replaces the cached helper while the job runs.
    const cached = (await walkTree([job.toolCache])).filter(
      (entry) => entry.type === 'file' && entry.path.endsWith('/docker-credential-pass'),
    );
    expect(cached, 'cached binaries').toHaveLength(1);
    const marker = join(job.root, 'swapped-helper-ran');
    await writeFile(cached[0].path, `#!/bin/sh\ntouch '${marker}'\nexit 1\n`);

    const ref = `${registry.address}/cache-swapped:1`;
    await makeImage(dockerd.host, ref);
    const push = await job.run('docker', ['push', ref]);
    expect(push.exitCode, describeResult(push)).toBe(0);
    expect(existsSync(marker), 'the swapped cache file ran').toBe(false);

    await runPostAndExpectClean(job, { id: 'swap' });
  });

  describe.concurrent('with tool-cache retries', () => {
    /** Starts a mirror of its own for a test that sets faults while others run. */
    async function ownMirror(): Promise<Mirror> {
      const own = await startMirror({ tag: TAG });
      return own;
    }

    test('closed port fails after retries', async () => {
      const job = await newJob();
      const baseUrl = `http://127.0.0.1:${await freePort()}`;

      const started = Date.now();
      const main = await job.runAction('main', inputs({ 'helper-mirror': baseUrl }));
      const elapsed = Date.now() - started;
      expect(main.exitCode, describeResult(main)).toBe(1);
      const errors = annotations(main, 'error');
      expect(errors).toContain(`Download of ${baseUrl}/${TAG}/checksums.txt failed`);
      expect(errors).toContain('ECONNREFUSED');
      expect(retrySleeps(main.stdout)).toHaveLength(2);
      expect(elapsed, 'milliseconds for 3 attempts').toBeGreaterThanOrEqual(20_000);
      await expectNoDownloadLeft(job);

      await runPostAndExpectClean(job);
    });

    test.each([503, 429])('HTTP %i fails after retries', async (status) => {
      const own = await ownMirror();
      try {
        const job = await newJob();
        own.setFault(own.checksumsPath, { type: 'status', status });

        const main = await job.runAction('main', inputs({ 'helper-mirror': own.baseUrl }));
        expect(main.exitCode, describeResult(main)).toBe(1);
        const errors = annotations(main, 'error');
        expect(errors).toContain(`Download of ${own.baseUrl}${own.checksumsPath} failed`);
        expect(errors).toContain(`HTTP ${status}`);
        const gaps = gapsBetween(own.requests, own.checksumsPath);
        expect(gaps, 'milliseconds between attempts').toHaveLength(2);
        for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(10_000);
        for (const gap of gaps) expect(gap).toBeLessThan(22_000);
        await expectNoDownloadLeft(job);

        await runPostAndExpectClean(job);
      } finally {
        await own.stop();
      }
    });

    test('reset mid-body fails after retries', async () => {
      const own = await ownMirror();
      try {
        const job = await newJob();
        own.setFault(own.assetPath, { type: 'truncate', bytes: 65536 });

        const main = await job.runAction('main', inputs({ 'helper-mirror': own.baseUrl }));
        expect(main.exitCode, describeResult(main)).toBe(1);
        expect(annotations(main, 'error')).toContain(
          `Download of ${own.baseUrl}${own.assetPath} failed`,
        );
        expect(gapsBetween(own.requests, own.assetPath)).toHaveLength(2);
        await expectNoDownloadLeft(job);

        await runPostAndExpectClean(job);
      } finally {
        await own.stop();
      }
    });

    test('transient 503 recovers', async () => {
      const own = await ownMirror();
      try {
        const job = await newJob();
        own.setFault(own.checksumsPath, { type: 'status', status: 503 });
        const running = job.runAction('main', inputs({ 'helper-mirror': own.baseUrl }));
        while (!own.requests.some((request) => request.path === own.checksumsPath)) {
          await sleep(50);
        }
        own.clearFaults();

        const main = await running;
        expect(main.exitCode, describeResult(main)).toBe(0);
        expect(gapsBetween(own.requests, own.checksumsPath)).toHaveLength(1);

        await runPostAndExpectClean(job);
      } finally {
        await own.stop();
      }
    });
  });
});
