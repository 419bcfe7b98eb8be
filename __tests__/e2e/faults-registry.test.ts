/**
 * End-to-end tests of registry faults during `docker login`: rejected credentials, server errors,
 * connection resets and a registry that never responds. A proxy in front of the real registry
 * injects the faults and counts the requests. One `docker login` through dockerd 20.10 sends
 * `GET /v2/` without and then with credentials; a reset or a hang ends it at the first request.
 * dockerd gives up on a registry that does not respond after 15 s, so the two hang tests take 15
 * and 30 s. They run concurrently.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { annotations, runPostAndExpectClean } from '../support/cleanup.js';
import { describeResult } from '../support/exec.js';
import { startRegistryProxy, type ProxyRequest, type RegistryProxy } from '../support/proxy.js';
import { startServices, type Services } from '../support/action.js';
import { Job } from '../support/runner.js';
import {
  canRunDockerd,
  makeImage,
  type Dockerd,
  type Mirror,
  type Registry,
} from '../support/services.js';

const TAG = 'v0.8.0-local';
const USER = 'ci-user';
const PASSWORD = `registry-${randomBytes(6).toString('hex')}`;

/** Delay before the first retry; the second waits twice as long. */
const RETRY_DELAY_MS = 300;

/**
 * Splits requests into login attempts: a request that comes more than `RETRY_DELAY_MS` / 2 after
 * the one before starts a new attempt. Returns the start time of each attempt.
 */
function attemptStarts(requests: ProxyRequest[]): number[] {
  const starts: number[] = [];
  requests.forEach((request, index) => {
    const previous = requests[index - 1];
    if (!previous || request.receivedAt - previous.receivedAt > RETRY_DELAY_MS / 2) {
      starts.push(request.receivedAt);
    }
  });
  return starts;
}

describe.skipIf(!canRunDockerd())('registry faults', { timeout: 120_000 }, () => {
  let dockerd: Dockerd;
  let registry: Registry;
  let mirror: Mirror;
  const jobs: Job[] = [];
  const proxies: RegistryProxy[] = [];

  let services: Services | undefined;

  beforeAll(async () => {
    services = await startServices([{ [USER]: PASSWORD }]);
    ({ dockerd, mirror } = services);
    registry = services.registries[0];
  });

  afterAll(async () => {
    for (const job of jobs) await job.dispose();
    for (const proxy of proxies) await proxy.stop();
    await services?.stop();
  });

  /** Starts a job and a proxy of its own in front of the registry. */
  async function newJobWithProxy(): Promise<{ job: Job; proxy: RegistryProxy }> {
    const job = await Job.create({ env: dockerd.env });
    jobs.push(job);
    const proxy = await startRegistryProxy(registry.address);
    proxies.push(proxy);
    return { job, proxy };
  }

  function inputs(proxy: RegistryProxy, values: Record<string, string> = {}) {
    return {
      registry: proxy.address,
      username: USER,
      password: PASSWORD,
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
      retries: '2',
      'retry-delay': `${RETRY_DELAY_MS}ms`,
      ...values,
    };
  }

  async function expectPush(job: Job, proxy: RegistryProxy, repository: string) {
    const ref = `${proxy.address}/${repository}:1`;
    await makeImage(dockerd.host, ref);
    const push = await job.run('docker', ['push', ref]);
    expect(push.exitCode, describeResult(push)).toBe(0);
  }

  test('rejected credentials are not retried', async () => {
    const { job, proxy } = await newJobWithProxy();

    const main = await job.runAction('main', inputs(proxy, { password: 'wrong' }));
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain(`Registry ${proxy.address} rejected the credentials`);
    expect(errors).toContain(`user '${USER}'`);
    const withCredentials = proxy.requests.filter((request) => request.authorized);
    expect(withCredentials, 'requests with credentials').toHaveLength(1);
    expect(attemptStarts(proxy.requests), 'login attempts').toHaveLength(1);

    await runPostAndExpectClean(job);
  });

  test.each([
    ['503', { type: 'status', status: 503 } as const, /server error after 3 attempts/],
    ['reset', { type: 'reset' } as const, /is not reachable from this runner after 3 attempts/],
  ])('%s is retried, then fails', async (_name, fault, message) => {
    const { job, proxy } = await newJobWithProxy();
    proxy.setFault(fault);

    const main = await job.runAction('main', inputs(proxy));
    expect(main.exitCode, describeResult(main)).toBe(1);
    const errors = annotations(main, 'error');
    expect(errors).toContain(`Registry ${proxy.address}`);
    expect(errors).toMatch(message);
    expect(main.stdout).toContain('attempt 1 of 3; retrying in 0.3 s');
    expect(main.stdout).toContain('attempt 2 of 3; retrying in 0.6 s');
    const starts = attemptStarts(proxy.requests);
    expect(starts, 'login attempts').toHaveLength(3);
    expect(starts[1] - starts[0], 'first backoff').toBeGreaterThanOrEqual(RETRY_DELAY_MS);
    expect(starts[2] - starts[1], 'second backoff').toBeGreaterThanOrEqual(2 * RETRY_DELAY_MS);

    await runPostAndExpectClean(job);
  });

  test.each([
    // The first attempt gets a 503 for both of its requests. With a 503 for the first request
    // alone, dockerd sends no credentials and reports the registry's 401 as a rejection.
    ['503', { type: 'status', status: 503 } as const, 2],
    ['reset', { type: 'reset' } as const, 1],
  ])('transient %s recovers', async (_name, fault, count) => {
    const { job, proxy } = await newJobWithProxy();
    proxy.setFault(fault, count);

    const main = await job.runAction('main', inputs(proxy));
    expect(main.exitCode, describeResult(main)).toBe(0);
    expect(main.stdout).toContain('attempt 1 of 3; retrying in 0.3 s');
    expect(attemptStarts(proxy.requests), 'login attempts').toHaveLength(2);
    await expectPush(job, proxy, `transient-${_name}`);

    await runPostAndExpectClean(job);
  });

  describe.concurrent('registry that never responds', () => {
    test('hang once recovers', async () => {
      const { job, proxy } = await newJobWithProxy();
      proxy.setFault({ type: 'hang' }, 1);

      const main = await job.runAction('main', inputs(proxy, { retries: '1' }));
      expect(main.exitCode, describeResult(main)).toBe(0);
      expect(main.stdout).toContain('attempt 1 of 2; retrying');
      expect(proxy.requests[0].fault).toBe('hang');
      await expectPush(job, proxy, 'after-hang');

      await runPostAndExpectClean(job);
    });

    test('hang always fails', async () => {
      const { job, proxy } = await newJobWithProxy();
      proxy.setFault({ type: 'hang' });

      const main = await job.runAction('main', inputs(proxy, { retries: '1' }));
      expect(main.exitCode, describeResult(main)).toBe(1);
      const errors = annotations(main, 'error');
      expect(errors).toContain(`Registry ${proxy.address} is not reachable`);
      expect(errors).toContain('after 2 attempts');
      // dockerd 20.10 reports the same 15 s timeout in one of two wordings, from run to run.
      expect(errors).toMatch(/Client\.Timeout exceeded|context deadline exceeded/);
      expect(proxy.requests, 'requests').toHaveLength(2);

      await runPostAndExpectClean(job);
    });
  });
});
