/**
 * Shared setup of the benchmark scripts. They start the same real components as the end-to-end
 * tests: a Docker daemon, a distribution registry with one htpasswd user and a mirror of the
 * docker-credential-helpers release layout. Runner jobs live under one temporary folder, and
 * everything is cleaned up, also when a script fails or is interrupted.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeResult, execute, type ExecResult } from '../__tests__/support/exec.js';
import {
  Job,
  readActionDefinition,
  REPO_ROOT,
  type Stage,
  type StepResult,
} from '../__tests__/support/runner.js';
import {
  canRunDockerd,
  createDockerClient,
  startDockerd,
  startMirror,
  startRegistry,
  type Dockerd,
  type Mirror,
  type Registry,
} from '../__tests__/support/services.js';

/**
 * Release tag that the mirror serves. The action carries no digest for it, so a download also
 * fetches `checksums.txt`, as for any release newer than the action.
 */
const HELPER_TAG = 'v0.8.0-local';

/** Cleanup callbacks, run last first. Each runs once, even when `release` is called twice. */
export class CleanupStack {
  private readonly callbacks: Array<() => Promise<void>> = [];

  add(callback: () => Promise<void>): void {
    this.callbacks.push(callback);
  }

  async release(): Promise<void> {
    for (let callback = this.callbacks.pop(); callback; callback = this.callbacks.pop()) {
      try {
        await callback();
      } catch (error) {
        console.error(`Cleanup failed: ${(error as Error).message}`);
      }
    }
  }
}

/**
 * Runs `body` and then releases everything it registered, also when it throws or the process
 * gets SIGINT or SIGTERM. Sets the exit code: 1 on an error, 130 or 143 on a signal.
 */
export async function withCleanup(body: (cleanup: CleanupStack) => Promise<void>): Promise<void> {
  const cleanup = new CleanupStack();
  let signalExitCode: number | undefined;
  const handlers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = () => {
      signalExitCode = signal === 'SIGINT' ? 130 : 143;
      process.exitCode = signalExitCode;
      console.error(`\n${signal} received: stopping the servers and removing the temporary files.`);
      void cleanup.release().finally(() => process.exit(signalExitCode));
    };
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  try {
    await body(cleanup);
  } catch (error) {
    // After a signal, the steps that the cleanup stopped fail, and that is no error to report.
    if (signalExitCode === undefined) {
      console.error((error as Error).stack ?? String(error));
      process.exitCode = 1;
    }
  } finally {
    await cleanup.release();
    for (const [signal, handler] of handlers) process.off(signal, handler);
  }
}

export interface Services {
  /** Temporary folder that contains the daemons' state and every job. */
  root: string;
  /** Copy of action.yml and dist/ that every job runs. */
  actionDir: string;
  dockerd: Dockerd;
  registry: Registry;
  mirror: Mirror;
  username: string;
  password: string;
}

/**
 * Starts dockerd, the registry and the mirror on loopback addresses and unix sockets in a new
 * temporary folder, and registers their shutdown and the folder's removal.
 */
export async function startServices(cleanup: CleanupStack): Promise<Services> {
  if (!canRunDockerd()) {
    throw new Error('The benchmark starts its own dockerd: run it as root with dockerd installed.');
  }
  const root = await mkdtemp(join(tmpdir(), 'dpl-bench-'));
  cleanup.add(() => rm(root, { recursive: true, force: true }));
  const actionDir = await snapshotAction(join(root, 'action'));
  const username = 'bench-user';
  const password = `bench-${randomBytes(16).toString('hex')}`;

  const dockerd = await startDockerd(join(root, 'docker'));
  cleanup.add(() => dockerd.stop());
  const registry = await startRegistry(join(root, 'registry'), { [username]: password });
  cleanup.add(() => registry.stop());
  const mirror = await startMirror({ tag: HELPER_TAG });
  cleanup.add(() => mirror.stop());
  return { root, actionDir, dockerd, registry, mirror, username, password };
}

/** The main and post scripts of the copied action. */
export async function actionScripts(services: Services): Promise<{ main: string; post: string }> {
  const definition = await readActionDefinition(services.actionDir);
  return {
    main: join(services.actionDir, definition.main),
    post: join(services.actionDir, definition.post ?? definition.main),
  };
}

/** A bundle run that stops at once: label, script, extra environment and expected exit code. */
export type LoadTarget = [string, string, Record<string, string>, number];

/**
 * Ways to load each bundle and stop at once: post with no saved state only logs that there is
 * nothing to clean up, and main with an empty password fails at input validation, before it
 * starts any tool.
 */
export async function loadTargets(services: Services): Promise<LoadTarget[]> {
  const { main, post } = await actionScripts(services);
  return [
    ['post bundle, no saved state', post, {}, 0],
    [
      'main bundle, empty password',
      main,
      { INPUT_REGISTRY: services.registry.address, INPUT_USERNAME: 'bench', INPUT_PASSWORD: '' },
      1,
    ],
  ];
}

/** How long to wait for a `npm run build` that is rewriting dist/ to finish. */
const BUILD_WAIT_MS = 120_000;

/**
 * Copies action.yml and dist/ of this checkout into `folder` and returns it, so that a rebuild
 * of dist/ while the benchmark runs cannot change what it measures. Waits while the main or post
 * script that action.yml names is missing or still growing, as during a build.
 */
async function snapshotAction(folder: string): Promise<string> {
  const definition = await readActionDefinition(REPO_ROOT);
  const bundles = [definition.main, definition.post ?? definition.main].map((script) =>
    join(REPO_ROOT, script),
  );
  const deadline = Date.now() + BUILD_WAIT_MS;
  let previousSizes = '';
  for (;;) {
    const sizes = await Promise.all(
      bundles.map((bundle) =>
        stat(bundle).then(
          (stats) => stats.size,
          () => -1,
        ),
      ),
    );
    const key = sizes.join(',');
    if (sizes.every((size) => size > 0) && key === previousSizes) break;
    if (Date.now() > deadline) {
      throw new Error(`${bundles.join(' or ')} is missing or changing: run npm run build first.`);
    }
    previousSizes = key;
    await sleep(1_000);
  }
  await mkdir(folder, { recursive: true });
  await cp(join(REPO_ROOT, 'action.yml'), join(folder, 'action.yml'));
  await cp(join(REPO_ROOT, 'dist'), join(folder, 'dist'), { recursive: true });
  return folder;
}

/**
 * Inputs of one login. Every URL input points at the loopback mirror, so that no default
 * reaches another host. pass is installed here, so the action never fetches `pass-mirror`.
 */
export function loginInputs(services: Services): Record<string, string> {
  return {
    registry: services.registry.address,
    username: services.username,
    password: services.password,
    'helper-version': HELPER_TAG,
    'helper-mirror': services.mirror.baseUrl,
    'pass-mirror': `${services.mirror.baseUrl}/pass`,
  };
}

let jobCount = 0;

/**
 * Creates a runner job under the services' folder, with the services' Docker daemon. With
 * `toolCache`, the job's tool cache is a link to that folder, so that it starts warm; otherwise
 * it starts empty. `env` and `path` override the job's environment and base PATH.
 */
export async function createJob(
  services: Services,
  cleanup: CleanupStack,
  options: { toolCache?: string; env?: Record<string, string>; path?: string } = {},
): Promise<Job> {
  jobCount += 1;
  const root = join(services.root, `job-${jobCount}`);
  if (options.toolCache) {
    await mkdir(root);
    await symlink(options.toolCache, join(root, 'tool-cache'));
  }
  const job = await Job.create({
    root,
    env: { DOCKER_HOST: services.dockerd.host, ...options.env },
    path: options.path,
    actionDir: services.actionDir,
  });
  let disposed = false;
  const dispose = async () => {
    if (disposed) return;
    disposed = true;
    await job.dispose();
    await rm(root, { recursive: true, force: true });
  };
  cleanup.add(dispose);
  jobDisposers.set(job, dispose);
  return job;
}

const jobDisposers = new Map<Job, () => Promise<void>>();

/** Stops what the job left running and removes its folder now instead of at the end. */
export async function disposeJob(job: Job): Promise<void> {
  await jobDisposers.get(job)?.();
  jobDisposers.delete(job);
}

/** Runs the action's main or post step and returns its wall time in ms; throws unless it passed. */
export async function timeAction(
  job: Job,
  stage: Stage,
  inputs?: Record<string, string>,
): Promise<{ ms: number; result: StepResult }> {
  const started = performance.now();
  const result = await job.runAction(stage, inputs);
  const ms = performance.now() - started;
  checkStep(`${stage} of the action`, result);
  return { ms, result };
}

/** Runs a command as a job step and returns its wall time in ms; throws unless it passed. */
export async function timeStep(
  job: Job,
  command: string,
  args: string[],
  input?: string,
): Promise<number> {
  const started = performance.now();
  const result = await job.run(command, args, { input, printsSecret: true });
  const ms = performance.now() - started;
  checkStep([command, ...args].join(' '), result);
  return ms;
}

/**
 * Runs a command directly (no runner stand-in) and returns its wall time in ms and its result;
 * throws unless it exited with `options.exitCode` (default 0).
 */
export async function timeCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
  options: { secretOutput?: boolean; exitCode?: number } = {},
): Promise<{ ms: number; result: ExecResult }> {
  const started = performance.now();
  const result = await execute(command, args, { env, input, timeoutMs: 60_000 });
  const ms = performance.now() - started;
  checkStep([command, ...args].join(' '), result, options.secretOutput, options.exitCode);
  return { ms, result };
}

/**
 * Throws when a step failed, or when a process it started kept its stdout or stderr open, which
 * would add the runner stand-in's grace period to the measured time. The error leaves out
 * `::add-mask::` lines, which contain the password, and all of stdout when `secretOutput` is set.
 */
function checkStep(name: string, result: ExecResult, secretOutput = false, exitCode = 0): void {
  if (result.exitCode !== exitCode || result.stdioHeldOpen) {
    const heldNote = result.stdioHeldOpen ? ' (stdout or stderr held open)' : '';
    const stdout = secretOutput ? '(not shown: it may contain the password)' : result.stdout;
    const reported = { ...result, stdout: withoutMasks(stdout) };
    throw new Error(`${name} failed${heldNote}: ${describeResult(reported)}`);
  }
}

/** Drops the `::add-mask::` workflow commands, which contain secrets, from a step's output. */
export function withoutMasks(text: string): string {
  return text
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n');
}

/** The credential helper wrapper that main wrote, and what it sets up for the helper. */
export interface HelperSetup {
  /** The `docker-credential-<name>` script that docker runs. */
  wrapper: string;
  /** The docker-credential-pass binary that the wrapper runs. */
  helperPath: string;
  gnupgHome: string;
  storeDir: string;
}

/**
 * Finds the wrapper the way docker does, through `credHelpers` in the config folder that main
 * exported and the folders main added to PATH, and reads the values it sets from the script.
 */
export async function findHelperSetup(main: StepResult, server: string): Promise<HelperSetup> {
  const configDir = main.outputs['config-dir'];
  const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as {
    credHelpers?: Record<string, string>;
  };
  const name = config.credHelpers?.[server];
  if (!name) throw new Error(`${configDir}/config.json names no credential helper for ${server}.`);
  const wrapper = main.addedPath
    .map((folder) => join(folder, `docker-credential-${name}`))
    .find((path) => existsSync(path));
  if (!wrapper)
    throw new Error(`docker-credential-${name} is in no folder that main added to PATH.`);
  const script = await readFile(wrapper, 'utf8');
  const value = (variable: string) => {
    const match = new RegExp(`^${variable}='((?:[^']|'\\\\'')*)'`, 'm').exec(script);
    if (!match) throw new Error(`${wrapper} sets no ${variable}.`);
    return match[1].replaceAll("'\\''", "'");
  };
  return {
    wrapper,
    helperPath: value('helper'),
    gnupgHome: value('GNUPGHOME'),
    storeDir: value('PASSWORD_STORE_DIR'),
  };
}

/** Returns the encrypted file that docker-credential-pass stored for `server`. */
export async function storedEntry(storeDir: string, server: string): Promise<string> {
  const folder = join(
    storeDir,
    'docker-credential-helpers',
    // docker-credential-pass names the folder with Go's padded URL-safe base64.
    Buffer.from(server)
      .toString('base64url')
      .padEnd(Math.ceil(Buffer.byteLength(server) / 3) * 4, '='),
  );
  const files = (await readdir(folder)).filter((name) => name.endsWith('.gpg'));
  if (files.length !== 1)
    throw new Error(`Expected one entry in ${folder}, found ${files.length}.`);
  return join(folder, files[0]);
}

/**
 * Returns the environment that the helper wrapper gives docker-credential-pass, for timing the
 * helper, pass and gpg without the wrapper.
 */
export function helperEnv(jobEnv: NodeJS.ProcessEnv, setup: HelperSetup): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...jobEnv,
    GNUPGHOME: setup.gnupgHome,
    PASSWORD_STORE_DIR: setup.storeDir,
    PASSWORD_STORE_GPG_OPTS: '--batch',
  };
  delete env.GPG_AGENT_INFO;
  return env;
}

/**
 * Checks that a helper `get` returned the benchmark user. The output contains the password, so
 * it is never printed.
 */
export function checkCredential(result: ExecResult, username: string): void {
  let parsed: { Username?: unknown } = {};
  try {
    parsed = JSON.parse(result.stdout) as typeof parsed;
  } catch {
    // Reported below.
  }
  if (parsed.Username !== username) {
    throw new Error(`The helper's get did not return user '${username}'.`);
  }
}

/** Reads one `<phase>: N ms` line per phase from a main step's log. */
export function parsePhases(stdout: string, registryAddress: string): Map<string, number> {
  const phases = new Map<string, number>();
  for (const line of stdout.split('\n')) {
    const match = /^(.+): (\d+) ms$/.exec(line.trim());
    if (!match || match[1].startsWith('::')) continue;
    phases.set(match[1].replace(registryAddress, '<registry>'), Number(match[2]));
  }
  return phases;
}

/** Creates a Docker client folder whose PATH contains only the docker CLI. */
export async function dockerOnlyPath(services: Services): Promise<string> {
  const client = await createDockerClient(join(services.root, 'docker-cli'), services.dockerd.host);
  return client.env.PATH as string;
}
