/**
 * End-to-end tests of the job's life around the login. A gpg-agent dies after main, a main step
 * is cancelled with SIGINT or SIGTERM while it downloads or logs in, and post steps get no
 * state, part of it, or state that names folders outside the action's own.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  annotations,
  expectCleanedUp,
  runnerTempLeftovers,
  runPostAndExpectClean,
} from '../support/cleanup.js';
import { describeResult } from '../support/exec.js';
import { findProcessesMentioning, isRunning } from '../support/inspect.js';
import { startRegistryProxy, type RegistryProxy } from '../support/proxy.js';
import { startServices, type Services } from '../support/action.js';
import { Job, type StepResult } from '../support/runner.js';
import {
  canRunDockerd,
  makeImage,
  type Dockerd,
  type Mirror,
  type Registry,
} from '../support/services.js';

const TAG = 'v0.8.0-local';
const USER = 'ci-user';
const PASSWORD = `lifecycle-${randomBytes(6).toString('hex')}`;

/** Exit codes of main after the signal handler ran: 128 + the signal number. */
const SIGNAL_EXIT_CODES: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/** Polls `condition` every 50 ms until it is true, and throws after `timeoutMs`. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Returns the `STATE_*` values of a post step whose main saved `cleanup`. */
function postState(cleanup: Record<string, unknown>): Record<string, string> {
  return { isPost: 'true', cleanup: JSON.stringify(cleanup) };
}

describe.skipIf(!canRunDockerd())('job lifecycle faults', { timeout: 120_000 }, () => {
  let root: string;
  let dockerd: Dockerd;
  let registry: Registry;
  let mirror: Mirror;
  const jobs: Job[] = [];
  const proxies: RegistryProxy[] = [];

  let services: Services | undefined;

  beforeAll(async () => {
    services = await startServices([{ [USER]: PASSWORD }]);
    ({ root, dockerd, mirror } = services);
    registry = services.registries[0];
  });

  afterEach(() => mirror.clearFaults());

  afterAll(async () => {
    for (const job of jobs) await job.dispose();
    for (const proxy of proxies) await proxy.stop();
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

  /** Returns the name of the helper wrapper that main's config.json names for `server`. */
  async function wrapperName(main: StepResult, server: string): Promise<string> {
    const file = join(main.outputs['config-dir'], 'config.json');
    const config = JSON.parse(await readFile(file, 'utf8'));
    return `docker-credential-${config.credHelpers[server]}`;
  }

  describe('agent', () => {
    test('dead agent fails lookups', async () => {
      const job = await newJob();
      const main = await job.runAction('main', inputs());
      expect(main.exitCode, describeResult(main)).toBe(0);
      const wrapper = await wrapperName(main, registry.address);

      const agents = (await findProcessesMentioning(job.runnerTemp)).filter((entry) =>
        entry.cmdline.startsWith('gpg-agent'),
      );
      expect(agents, 'gpg-agent processes').toHaveLength(1);
      process.kill(agents[0].pid, 'SIGKILL');
      await waitFor('the agent to exit', () => !isRunning(agents[0].pid));

      const get = await job.run(wrapper, ['get'], { input: registry.address });
      expect(get.exitCode, describeResult(get)).toBe(1);
      expect(get.stdout).toContain('no gpg-agent running');
      expect(get.stderr).toMatch(/gpg-agent .*is not running/);

      const ref = `${registry.address}/dead-agent:1`;
      await makeImage(dockerd.host, ref);
      const push = await job.run('docker', ['push', ref]);
      expect(push.exitCode, describeResult(push)).toBe(1);
      expect(push.stderr).toMatch(/gpg-agent .*is not running/);
      expect(push.stderr).toContain('no basic auth credentials');
      const restarted = await findProcessesMentioning(job.runnerTemp);
      expect(restarted, 'processes started by the lookups').toEqual([]);

      await runPostAndExpectClean(job);
    });
  });

  describe('cancelled main', () => {
    /**
     * Runs main until `ready` returns true, then sends `signal`. Like the runner, it then sends
     * SIGTERM and SIGKILL to a main step that is still running, here after 2 s each.
     */
    async function cancelMain(
      job: Job,
      values: Record<string, string>,
      ready: () => boolean,
      signal: NodeJS.Signals,
    ): Promise<StepResult> {
      let pid: number | undefined;
      const running = job.runAction('main', inputs(values), { onSpawn: (id) => (pid = id) });
      await waitFor('main to reach the fault', () => pid !== undefined && ready());
      for (const next of [signal, 'SIGTERM', 'SIGKILL'] as const) {
        if (!isRunning(pid as number)) break;
        process.kill(pid as number, next);
        const deadline = Date.now() + 2_000;
        while (isRunning(pid as number) && Date.now() < deadline) await sleep(50);
      }
      return running;
    }

    function expectStoppedBy(main: StepResult, signal: NodeJS.Signals): void {
      expect(main.exitCode, describeResult(main)).toBe(SIGNAL_EXIT_CODES[signal]);
      expect(annotations(main, 'error')).toContain(`stopped by ${signal}`);
    }

    test.each(['SIGINT', 'SIGTERM'] as const)('%s before download responds', async (signal) => {
      const job = await newJob();
      mirror.setFault(mirror.checksumsPath, { type: 'hang' });
      const before = mirror.requests.length;
      const requested = () =>
        mirror.requests.slice(before).some((request) => request.path === mirror.checksumsPath);

      const main = await cancelMain(job, {}, requested, signal);
      expectStoppedBy(main, signal);

      const post = await runPostAndExpectClean(job);
      expect(annotations(post, 'warning')).toContain('The main step did not finish');
    });

    test.each(['SIGINT', 'SIGTERM'] as const)('%s during download body', async (signal) => {
      const job = await newJob();
      mirror.setFault(mirror.assetPath, { type: 'stall', bytes: 65536 });
      const before = mirror.requests.length;
      const requested = () =>
        mirror.requests.slice(before).some((request) => request.path === mirror.assetPath);

      // Waits until part of the body has reached the file that @actions/tool-cache writes.
      const main = await cancelMain(
        job,
        {},
        () => requested() && partialDownloads(job).length > 0,
        signal,
      );
      expectStoppedBy(main, signal);

      await runPostAndExpectClean(job);
    });

    test.each(['SIGINT', 'SIGTERM'] as const)('%s during login', async (signal) => {
      const job = await newJob();
      const proxy = await startRegistryProxy(registry.address);
      proxies.push(proxy);
      proxy.setFault({ type: 'hang' });

      const main = await cancelMain(
        job,
        { registry: proxy.address },
        () => proxy.requests.length > 0,
        signal,
      );
      expectStoppedBy(main, signal);

      await runPostAndExpectClean(job);
    });
  });

  describe('post state', () => {
    /** Runs a successful main and returns its saved cleanup state. */
    async function loggedInJob(): Promise<{ job: Job; cleanup: Record<string, unknown> }> {
      const job = await newJob();
      const main = await job.runAction('main', inputs());
      expect(main.exitCode, describeResult(main)).toBe(0);
      return { job, cleanup: JSON.parse(main.state.cleanup) as Record<string, unknown> };
    }

    /** Creates a folder outside RUNNER_TEMP with one file in it, and returns both paths. */
    async function outsideFolder(name: string): Promise<{ folder: string; file: string }> {
      const folder = join(await mkdtemp(join(root, 'outside-')), name);
      await mkdir(folder);
      const file = join(folder, 'keep.txt');
      await writeFile(file, 'not the action’s\n');
      return { folder, file };
    }

    test('state without cleanup', async () => {
      const job = await newJob();

      const post = await runPostAndExpectClean(job, { state: { isPost: 'true' } }, inputs());
      expect(post.stdout).toContain('nothing to clean up');
    });

    test('no state does not log in', async () => {
      // A main step cancelled before it saved anything gives its post no STATE_ variable.
      const job = await newJob();

      const post = await job.runAction('post', inputs(), { state: {} });
      expect(post.exitCode, describeResult(post)).toBe(0);
      expect(post.exportedEnv.DOCKER_CONFIG, 'DOCKER_CONFIG exported by post').toBeUndefined();
      await expectCleanedUp(job);
    });

    test.each([
      ['gnupgHome'],
      ['fingerprint'],
      ['configDir', 'binDir', 'servers'],
      ['storeDir', 'helperName'],
    ])('partial state without %s', async (...dropped) => {
      const { job, cleanup } = await loggedInJob();
      for (const key of dropped) delete cleanup[key];

      await runPostAndExpectClean(job, { state: postState(cleanup) });
    });

    test.each(['outside RUNNER_TEMP', 'RUNNER_TEMP/..', 'RUNNER_TEMP itself'])(
      'workDir %s is kept',
      async (where) => {
        const job = await newJob();
        let workDir: string;
        let file: string;
        if (where === 'outside RUNNER_TEMP') {
          ({ folder: workDir, file } = await outsideFolder('dpl-0123abcd'));
        } else if (where === 'RUNNER_TEMP/..') {
          workDir = `${job.runnerTemp}/../dpl-0123abcd`;
          file = join(job.root, 'dpl-0123abcd', 'keep.txt');
        } else {
          workDir = job.runnerTemp;
          file = join(job.runnerTemp, 'keep.txt');
        }
        await mkdir(dirname(file), { recursive: true });
        await writeFile(file, 'not the action’s\n');

        const post = await job.runAction('post', inputs(), { state: postState({ workDir }) });
        expect(post.exitCode, describeResult(post)).toBe(0);
        expect(annotations(post, 'warning')).toContain(`Not cleaning up '${workDir}'`);
        expect(existsSync(file), file).toBe(true);
      },
    );

    test('symlinked workDir keeps target', async () => {
      const job = await newJob();
      const { folder, file } = await outsideFolder('target');
      const workDir = join(job.runnerTemp, 'dpl-0123abcd');
      await symlink(folder, workDir);

      const post = await job.runAction('post', inputs(), { state: postState({ workDir }) });
      expect(post.exitCode, describeResult(post)).toBe(0);
      expect(existsSync(file), file).toBe(true);
    });

    test('RUNNER_TEMP unset keeps outside folder', async () => {
      const job = await newJob();
      const { folder, file } = await outsideFolder('dpl-0123abcd');

      const post = await job.runAction('post', inputs(), {
        state: postState({ workDir: folder }),
        env: { RUNNER_TEMP: undefined },
      });
      expect(post.exitCode, describeResult(post)).toBe(0);
      expect(existsSync(file), file).toBe(true);
    });

    test('gnupgHome outside keeps its key', async () => {
      const job = await newJob();
      const home = join(await mkdtemp(join(root, 'gnupg-')), 'home');
      await mkdir(home, { mode: 0o700 });
      const env = { ...process.env, GNUPGHOME: home };
      const gpg = (args: string[]) => execFileSync('gpg', ['--batch', ...args], { env });
      gpg(['--passphrase', '', '--quick-gen-key', 'outside <outside@example.invalid>', 'ed25519']);
      const listing = gpg(['--with-colons', '--list-secret-keys']).toString();
      const fingerprint = /^fpr:+([0-9A-F]{40}):/m.exec(listing)?.[1] as string;
      const workDir = join(job.runnerTemp, 'dpl-0123abcd');
      await mkdir(workDir);

      try {
        const state = postState({ workDir, gnupgHome: home, fingerprint });
        const post = await job.runAction('post', inputs(), { state });
        expect(post.exitCode, describeResult(post)).toBe(0);
        const after = gpg(['--with-colons', '--list-secret-keys']).toString();
        expect(after, 'secret keys of the outside GnuPG home').toContain(fingerprint);
      } finally {
        execFileSync('gpgconf', ['--kill', 'gpg-agent'], { env });
      }
    });

    test('configDir outside is unchanged', async () => {
      const job = await newJob();
      const { folder } = await outsideFolder('docker-config');
      const configFile = join(folder, 'config.json');
      const auth = Buffer.from('someone:else').toString('base64');
      const content = `${JSON.stringify({ auths: { [registry.address]: { auth } } }, null, 2)}\n`;
      await writeFile(configFile, content);
      const workDir = join(job.runnerTemp, 'dpl-0123abcd');
      await mkdir(workDir);
      const state = postState({
        workDir,
        configDir: folder,
        binDir: join(workDir, 'b'),
        helperName: 'pass-login-0123abcd',
        servers: [registry.address],
      });

      const post = await job.runAction('post', inputs(), { state });
      expect(post.exitCode, describeResult(post)).toBe(0);
      expect(await readFile(configFile, 'utf8'), configFile).toBe(content);
      expect(await runnerTempLeftovers(job), 'entries left in RUNNER_TEMP').toEqual([]);
    });
  });
});

/** Returns the files that @actions/tool-cache is writing, in the action's work folders. */
function partialDownloads(job: Job): string[] {
  const workDirs = readdirSync(job.runnerTemp).filter((name) => /^dpl-[0-9a-f]{8}$/.test(name));
  return workDirs.flatMap((name) => {
    const scratch = join(job.runnerTemp, name, 'download');
    const files = existsSync(scratch) ? readdirSync(scratch) : [];
    return files.filter((file) => /^[0-9a-f]{8}-[0-9a-f]{4}-/.test(file));
  });
}
