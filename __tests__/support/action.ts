/**
 * Services and look-ups shared by the end-to-end tests of the action's guarantees: one dockerd,
 * registries with htpasswd users and the release mirror per test file, the folders that a main
 * step created, and which user pushed to a registry.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { walkTree } from './inspect.js';
import type { StepResult } from './runner.js';
import {
  startDockerd,
  startMirror,
  startRegistry,
  type Dockerd,
  type Mirror,
  type Registry,
} from './services.js';

/** Release tag that the mirror serves Debian's docker-credential-pass under. */
export const HELPER_TAG = 'v0.8.0-local';

export interface Services {
  root: string;
  dockerd: Dockerd;
  /** One registry per user table given to `startServices`, in the same order. */
  registries: Registry[];
  mirror: Mirror;
  stop(): Promise<void>;
}

/** Starts a dockerd, one htpasswd registry per user table and the mirror, in a new folder. */
export async function startServices(users: Array<Record<string, string>>): Promise<Services> {
  const root = await mkdtemp(join(tmpdir(), 'dpl-g-'));
  const [dockerd, mirror, registries] = await Promise.all([
    startDockerd(join(root, 'docker')),
    startMirror({ tag: HELPER_TAG }),
    Promise.all(users.map((table, index) => startRegistry(join(root, `r${index}`), table))),
  ]);
  const stop = async () => {
    await mirror.stop();
    for (const registry of registries) await registry.stop();
    await dockerd.stop();
    await rm(root, { recursive: true, force: true });
  };
  return { root, dockerd, registries, mirror, stop };
}

/** Returns the action's inputs for one login through the services' mirror. */
export function loginInputs(
  services: Services,
  registry: Registry,
  username: string,
  password: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    registry: registry.address,
    username,
    password,
    'helper-version': HELPER_TAG,
    'helper-mirror': services.mirror.baseUrl,
    ...extra,
  };
}

/** The folders and the helper wrapper of one use of the action. */
export interface WorkPaths {
  workDir: string;
  gnupgHome: string;
  storeDir: string;
  configDir: string;
  binDir: string;
  /** Absolute path of the `docker-credential-<name>` wrapper. */
  wrapper: string;
}

/**
 * Finds the folders that a successful main step created, from what a job can observe. The work
 * folder is in the state saved for post, the GnuPG home has gpg-agent.conf, the store has .gpg-id,
 * the bin folder is on GITHUB_PATH, and the config folder is the `config-dir` output.
 */
export async function workPathsOf(main: StepResult): Promise<WorkPaths> {
  const raw = main.state.cleanup;
  if (!raw) throw new Error(`main saved no 'cleanup' state: ${JSON.stringify(main.state)}`);
  const workDir = (JSON.parse(raw) as { workDir?: unknown }).workDir;
  if (typeof workDir !== 'string') throw new Error(`The saved state has no workDir: ${raw}`);

  const entries = await walkTree([workDir]);
  const folderOf = (name: string): string => {
    const found = entries.filter((entry) => basename(entry.path) === name);
    if (found.length !== 1) {
      throw new Error(`Expected one ${name} under ${workDir}, found ${found.length}.`);
    }
    return dirname(found[0].path);
  };
  const binDir = main.addedPath.find((folder) => folder.startsWith(`${workDir}/`));
  if (!binDir) throw new Error(`main added no folder under ${workDir} to PATH.`);
  const wrappers = (await readdir(binDir)).filter((name) => name.startsWith('docker-credential-'));
  if (wrappers.length !== 1) throw new Error(`Expected one helper wrapper in ${binDir}.`);

  return {
    workDir,
    gnupgHome: folderOf('gpg-agent.conf'),
    storeDir: folderOf('.gpg-id'),
    configDir: main.outputs['config-dir'],
    binDir,
    wrapper: join(binDir, wrappers[0]),
  };
}

/** Returns the credential helper that config.json in `configDir` names for `server`. */
export async function helperFor(configDir: string, server: string): Promise<string | undefined> {
  const config = JSON.parse(await readFile(join(configDir, 'config.json'), 'utf8')) as {
    credHelpers?: Record<string, string>;
  };
  const name = config.credHelpers?.[server];
  return name === undefined ? undefined : `docker-credential-${name}`;
}

/**
 * Returns the distinct user names that the registry logged for requests to `repository`. The
 * distribution registry 2.8.2 that the tests run logs `auth.user.name` only on failed requests
 * (measured), such as the `HEAD` of a blob it does not have yet, which every push of a new layer
 * sends first.
 */
export async function registryUsers(registry: Registry, repository: string): Promise<string[]> {
  const log = await readFile(registry.logFile, 'utf8');
  const users = new Set<string>();
  for (const line of log.split('\n')) {
    if (!new RegExp(`\\bvars\\.name="?${repository}"?(\\s|$)`).test(line)) continue;
    const match = /\bauth\.user\.name="?([^"\s]+)"?/.exec(line);
    if (match) users.add(match[1]);
  }
  return [...users];
}
