/**
 * Services and look-ups shared by the end-to-end tests of the action's guarantees: one dockerd,
 * registries with htpasswd users and the release mirror per test file, the folders that a main
 * step created, and which user pushed to a registry.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** The folders of one use of the action, as its main step saved them for post. */
export interface WorkPaths {
  workDir: string;
  gnupgHome: string;
  storeDir: string;
  configDir: string;
  binDir: string;
  helperName: string;
}

/** Reads the folders that a main step created from the state it saved for its post step. */
export function workPathsOf(main: StepResult): WorkPaths {
  const raw = main.state.cleanup;
  if (!raw) throw new Error(`main saved no 'cleanup' state: ${JSON.stringify(main.state)}`);
  const state = JSON.parse(raw) as Partial<WorkPaths>;
  const names = ['workDir', 'gnupgHome', 'storeDir', 'configDir', 'binDir', 'helperName'] as const;
  for (const name of names) {
    if (typeof state[name] !== 'string') throw new Error(`The saved state has no ${name}: ${raw}`);
  }
  return state as WorkPaths;
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
 * Returns the distinct user names that the registry logged for requests to `repository`.
 * distribution 2.8 adds `auth.user.name` to the lines of failed requests only, such as the
 * `HEAD` of a blob it does not have yet, which every push of a new layer sends first.
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
