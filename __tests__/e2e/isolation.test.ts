/**
 * End-to-end tests of how uses of the action stay apart on one self-hosted machine. The cases are
 * two jobs that share HOME and the tool cache, two uses of the action in one job, and a job whose
 * post step never ran, followed by the next job on the same runner.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  HELPER_TAG,
  helperFor,
  loginInputs,
  registryUsers,
  startServices,
  workPathsOf,
  type Services,
} from '../support/action.js';
import { describeResult } from '../support/exec.js';
import { findInTree, findProcessesMentioning, isRunning, walkTree } from '../support/inspect.js';
import { Job, type JobOptions, type StepResult } from '../support/runner.js';
import { leakForms, passphraseOf } from '../support/secrets.js';
import { canRunDockerd, makeImage, type Registry } from '../support/services.js';
import { changedPaths, snapshotTree } from '../support/snapshot.js';

const suffix = randomBytes(6).toString('hex');
const FIRST_USERS = { alice: `alice-${suffix}`, bob: `bob-${suffix}` };
const SECOND_USERS = { carol: `carol-${suffix}` };
const PASSWORDS: Record<string, string> = { ...FIRST_USERS, ...SECOND_USERS };

interface Login {
  registry: Registry;
  user: string;
}

describe.skipIf(!canRunDockerd())('isolation on one machine', { timeout: 300_000 }, () => {
  let services: Services;
  let first: Registry;
  let second: Registry;
  const jobs: Job[] = [];
  const folders: string[] = [];

  beforeAll(async () => {
    services = await startServices([FIRST_USERS, SECOND_USERS]);
    [first, second] = services.registries;
  });

  afterEach(async () => {
    // Later jobs first: a job that reuses another's root does not own it.
    for (const job of jobs.splice(0).reverse()) await job.dispose();
    for (const folder of folders.splice(0)) await rm(folder, { recursive: true, force: true });
  });

  afterAll(async () => {
    await services?.stop();
  });

  async function newJob(options: JobOptions = {}): Promise<Job> {
    const job = await Job.create({ env: { DOCKER_HOST: services.dockerd.host }, ...options });
    jobs.push(job);
    return job;
  }

  async function newFolder(prefix: string): Promise<string> {
    const folder = await mkdtemp(join(tmpdir(), prefix));
    folders.push(folder);
    return folder;
  }

  /** Creates a HOME with a user config.json outside every job root, as runners of one user share. */
  async function sharedHome(): Promise<string> {
    const home = await newFolder('dpl-home-');
    await mkdir(join(home, '.docker'));
    const config = { detachKeys: 'ctrl-e,e', proxies: { default: { noProxy: '127.0.0.1' } } };
    await writeFile(join(home, '.docker', 'config.json'), `${JSON.stringify(config)}\n`);
    return home;
  }

  function inputsOf(login: Login, extra: Record<string, string> = {}): Record<string, string> {
    return loginInputs(services, login.registry, login.user, PASSWORDS[login.user], extra);
  }

  async function runMain(job: Job, login: Login, id?: string): Promise<StepResult> {
    const main = await job.runAction('main', inputsOf(login), { id });
    expect(main.exitCode, describeResult(main)).toBe(0);
    return main;
  }

  async function push(job: Job, ref: string): Promise<StepResult> {
    await makeImage(services.dockerd.host, ref);
    return job.run('docker', ['push', ref]);
  }

  async function expectPushSucceeds(job: Job, ref: string): Promise<void> {
    const result = await push(job, ref);
    expect(result.exitCode, describeResult(result)).toBe(0);
  }

  /** Returns the user name that the helper `helper` returns for `server` in a later step. */
  async function storedUser(job: Job, helper: string, server: string): Promise<string> {
    const result = await job.run(helper, ['get'], { input: server, printsSecret: true });
    expect(result.exitCode, `${helper} get: ${result.stdout} ${result.stderr}`).toBe(0);
    return (JSON.parse(result.stdout) as { Username: string }).Username;
  }

  /** Checks that no folder of the action, agent or socket remains in the job's RUNNER_TEMP. */
  async function expectNothingLeft(job: Job): Promise<void> {
    const left = (await readdir(job.runnerTemp)).filter((name) => name.startsWith('dpl-'));
    expect(left, 'folders of the action left in RUNNER_TEMP').toEqual([]);
    const sockets = (await walkTree([job.runnerTemp])).filter((entry) => entry.type === 'socket');
    expect(sockets, 'sockets left in RUNNER_TEMP').toEqual([]);
    const processes = await findProcessesMentioning(job.runnerTemp);
    expect(processes, 'processes that name RUNNER_TEMP').toEqual([]);
  }

  /**
   * Runs two jobs on one machine with one HOME and one tool cache, interleaved step by step:
   * A main, B main, A push, B push, A post, B push, B post. Checks that each job pushes with its
   * own credentials, that A's post leaves B's files, agent and login alone, and that the shared
   * HOME is never written.
   */
  async function runTwoJobs(a: Login, b: Login, name: string): Promise<void> {
    const home = await sharedHome();
    const toolCache = await newFolder('dpl-tools-');
    const userConfig = join(home, '.docker', 'config.json');
    const configBytes = await readFile(userConfig);
    const configMtime = (await stat(userConfig)).mtimeMs;
    const homeBefore = await snapshotTree(home);
    const jobA = await newJob({ home, toolCache });
    const jobB = await newJob({ home, toolCache });
    const [repoA, repoB] = [`${name}-a`, `${name}-b`];

    await runMain(jobA, a);
    const mainB = await runMain(jobB, b);
    await expectPushSucceeds(jobA, `${a.registry.address}/${repoA}:1`);
    await expectPushSucceeds(jobB, `${b.registry.address}/${repoB}:1`);

    const pathsB = await workPathsOf(mainB);
    const filesB = await snapshotTree(pathsB.workDir);
    const agentsB = await findProcessesMentioning(pathsB.gnupgHome);
    expect(agentsB.length, "B's gpg-agent processes").toBeGreaterThan(0);

    const postA = await jobA.runAction('post');
    expect(postA.exitCode, describeResult(postA)).toBe(0);
    const changed = changedPaths(filesB, await snapshotTree(pathsB.workDir));
    expect(changed, "B's files changed by A's post").toEqual([]);
    const stopped = agentsB.filter((agent) => !isRunning(agent.pid));
    expect(stopped, "B's agents stopped by A's post").toEqual([]);
    const helperB = await helperFor(pathsB.configDir, b.registry.address);
    expect(await storedUser(jobB, helperB ?? 'missing', b.registry.address)).toBe(b.user);
    await expectPushSucceeds(jobB, `${b.registry.address}/${repoB}:2`);
    const afterLogout = await push(jobA, `${a.registry.address}/${repoA}:2`);
    expect(afterLogout.exitCode, 'push of A after its post').not.toBe(0);

    const postB = await jobB.runAction('post');
    expect(postB.exitCode, describeResult(postB)).toBe(0);
    await expectNothingLeft(jobA);
    await expectNothingLeft(jobB);

    expect(await registryUsers(a.registry, repoA), `users who pushed ${repoA}`).toEqual([a.user]);
    expect(await registryUsers(b.registry, repoB), `users who pushed ${repoB}`).toEqual([b.user]);
    expect((await readFile(userConfig)).equals(configBytes), 'shared config.json bytes').toBe(true);
    expect((await stat(userConfig)).mtimeMs, 'shared config.json mtime').toBe(configMtime);
    expect(changedPaths(homeBefore, await snapshotTree(home)), 'changes in HOME').toEqual([]);
  }

  describe('two jobs sharing HOME', () => {
    test('different registries stay apart', async () => {
      await runTwoJobs(
        { registry: first, user: 'alice' },
        { registry: second, user: 'carol' },
        'two',
      );
    });

    test('one registry, two users', async () => {
      await runTwoJobs(
        { registry: first, user: 'alice' },
        { registry: first, user: 'bob' },
        'same',
      );
    });
  });

  test('same user can use a live agent', async () => {
    // A limit of any per-user design: the agent decrypts for every process of its user that
    // reaches its socket. Post ends this by stopping the agent and deleting the files.
    const home = await sharedHome();
    const owner = await newJob({ home });
    const other = await newJob({ home });
    const main = await runMain(owner, { registry: first, user: 'alice' });
    const paths = await workPathsOf(main);
    const wrapper = paths.wrapper;

    const during = await other.run(wrapper, ['get'], { input: first.address, printsSecret: true });
    expect(during.exitCode, `get from the other job: ${during.stderr}`).toBe(0);
    const credential = JSON.parse(during.stdout) as { Username: string; Secret: string };
    expect(credential.Username).toBe('alice');
    expect(credential.Secret === PASSWORDS.alice, 'secret read by the other job').toBe(true);

    const post = await owner.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    expect(existsSync(paths.workDir), 'work folder after the post').toBe(false);
    const agents = await findProcessesMentioning(paths.gnupgHome);
    expect(agents, 'agents of the work folder after the post').toEqual([]);
  });

  describe('several uses in one job', () => {
    test('two registries, posts reversed', async () => {
      const job = await newJob();
      const mainFirst = await runMain(job, { registry: first, user: 'alice' }, 'first');
      await runMain(job, { registry: second, user: 'carol' }, 'second');

      await expectPushSucceeds(job, `${first.address}/uses-first:1`);
      await expectPushSucceeds(job, `${second.address}/uses-second:1`);
      expect(await registryUsers(first, 'uses-first')).toEqual(['alice']);
      expect(await registryUsers(second, 'uses-second')).toEqual(['carol']);

      const postSecond = await job.runAction('post', undefined, { id: 'second' });
      expect(postSecond.exitCode, describeResult(postSecond)).toBe(0);
      const firstDir = (await workPathsOf(mainFirst)).workDir;
      expect(existsSync(firstDir), "the first use's folder after the second post").toBe(true);
      const postFirst = await job.runAction('post', undefined, { id: 'first' });
      expect(postFirst.exitCode, describeResult(postFirst)).toBe(0);
      await expectNothingLeft(job);
    });

    test('second use switches the user', async () => {
      const job = await newJob();
      await runMain(job, { registry: first, user: 'alice' }, 'first');
      const mainSecond = await runMain(job, { registry: first, user: 'bob' }, 'second');

      const configDir = mainSecond.outputs['config-dir'];
      expect(job.exportedEnv.DOCKER_CONFIG).toBe(configDir);
      const helper = await helperFor(configDir, first.address);
      expect(helper).toBe(basename((await workPathsOf(mainSecond)).wrapper));
      expect(await storedUser(job, helper ?? 'missing', first.address)).toBe('bob');
      await expectPushSucceeds(job, `${first.address}/switched:1`);
      expect(await registryUsers(first, 'switched')).toEqual(['bob']);

      for (const id of ['second', 'first']) {
        const post = await job.runAction('post', undefined, { id });
        expect(post.exitCode, describeResult(post)).toBe(0);
      }
      await expectNothingLeft(job);
    });

    test('registry-auth repeats a registry', async () => {
      // docker-credential-pass returns the first user in lexical order, so without the erase
      // before each login 'get' would return alice here.
      const job = await newJob();
      const registryAuth = [
        { registry: first.address, username: 'alice', password: PASSWORDS.alice },
        { registry: first.address, username: 'bob', password: PASSWORDS.bob },
      ];
      const main = await job.runAction('main', {
        'registry-auth': JSON.stringify(registryAuth),
        'helper-version': HELPER_TAG,
        'helper-mirror': services.mirror.baseUrl,
      });
      expect(main.exitCode, describeResult(main)).toBe(0);
      const helper = await helperFor(main.outputs['config-dir'], first.address);
      expect(await storedUser(job, helper ?? 'missing', first.address)).toBe('bob');
      await expectPushSucceeds(job, `${first.address}/repeated:1`);
      expect(await registryUsers(first, 'repeated')).toEqual(['bob']);

      const post = await job.runAction('post');
      expect(post.exitCode, describeResult(post)).toBe(0);
      await expectNothingLeft(job);
    });
  });

  test('leftovers of a job without post', async () => {
    const home = await sharedHome();
    const login = { registry: first, user: 'alice' };
    const crashed = await newJob({ home });
    const main = await runMain(crashed, login);
    const paths = await workPathsOf(main);

    // What a job leaves when the runner dies before post: encrypted files, no plain password.
    const entries = await walkTree([paths.storeDir]);
    const stored = entries.filter((entry) => entry.path.endsWith('/alice.gpg'));
    expect(stored.length, 'encrypted entries of alice').toBe(1);
    const secrets = [...leakForms('alice', PASSWORDS.alice), passphraseOf(main)].map((secret) =>
      Buffer.from(secret),
    );
    expect(await findInTree([crashed.runnerTemp], secrets), 'files with a secret').toEqual([]);
    expect(await findInTree([home], secrets), 'files in HOME with a secret').toEqual([]);

    // The runner empties RUNNER_TEMP at the next job start. gpg-agent watches its socket file
    // and exits once it is gone, so nothing has to stop it.
    const agents = await findProcessesMentioning(paths.gnupgHome);
    expect(agents.length, 'agents left by the job without post').toBeGreaterThan(0);
    for (const name of await readdir(crashed.runnerTemp)) {
      await rm(join(crashed.runnerTemp, name), { recursive: true, force: true });
    }
    const deadline = Date.now() + 15_000;
    while (agents.some((agent) => isRunning(agent.pid)) && Date.now() < deadline) {
      await sleep(100);
    }
    const running = agents.filter((agent) => isRunning(agent.pid));
    expect(running, 'agents still running 15 s after the wipe').toEqual([]);

    const next = await newJob({ root: crashed.root, home });
    const nextMain = await runMain(next, login);
    expect(nextMain.stdout, 'helper source of the next job').toMatch(/Source +: tool cache/);
    const helper = await helperFor(nextMain.outputs['config-dir'], first.address);
    expect(await storedUser(next, helper ?? 'missing', first.address)).toBe('alice');
    await expectPushSucceeds(next, `${first.address}/after-crash:1`);
    const post = await next.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    await expectNothingLeft(next);
  });
});
