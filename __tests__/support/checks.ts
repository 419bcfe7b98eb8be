/**
 * Assertions that the end-to-end tests share: what a successful main step leaves for later steps,
 * what post must remove, and that no password reaches a file or a log.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { expect } from 'vitest';
import { describeResult } from './exec.js';
import { findInTree, findProcessesMentioning, walkTree } from './inspect.js';
import type { Job, StepResult } from './runner.js';

/**
 * Returns the strings whose presence in a file or a log means that a password leaked. These are
 * the password, its base64, the base64 `user:password` of config.json `auth` fields, and each
 * line of a multi-line password that is long enough to be secret on its own. A password with a
 * trailing newline adds the forms without it, which `docker login --password-stdin` stores.
 */
export function leakForms(user: string, password: string): string[] {
  const stored = password.replace(/\n$/, '');
  const forms = new Set<string>();
  for (const value of [password, stored]) {
    forms.add(value);
    forms.add(Buffer.from(`${user}:${value}`).toString('base64'));
    forms.add(Buffer.from(value).toString('base64'));
  }
  const lines = stored.split('\n').filter((line) => line.trim().length >= 16);
  if (lines.length > 1) for (const line of lines) forms.add(line);
  return [...forms];
}

/** Returns the `::error` workflow commands of a step, which the job log shows as annotations. */
export function errorAnnotations(result: StepResult): string {
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('::error'))
    .join('\n');
}

/** Returns the keys named `name` anywhere in a parsed JSON value, as dotted paths. */
export function findKeys(value: unknown, name: string, path = ''): string[] {
  if (value === null || typeof value !== 'object') return [];
  const found: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    const childPath = path ? `${path}.${key}` : key;
    if (key === name) found.push(childPath);
    found.push(...findKeys(child, name, childPath));
  }
  return found;
}

/** Reads the config.json that main wrote to its `config-dir` output. */
export async function readJobConfig(main: StepResult): Promise<{
  credHelpers?: Record<string, string>;
  [key: string]: unknown;
}> {
  return JSON.parse(await readFile(join(main.outputs['config-dir'], 'config.json'), 'utf8'));
}

/**
 * Checks a successful main step: exit code 0, DOCKER_CONFIG exported under RUNNER_TEMP, and a
 * config.json without plain credentials that sends each of `servers` through a helper whose
 * wrapper lies in a folder that main added to PATH. Returns the wrapper's command name.
 */
export async function expectLoggedIn(
  job: Job,
  main: StepResult,
  servers: string[],
): Promise<string> {
  expect(main.exitCode, describeResult(main)).toBe(0);
  expect(main.stdioHeldOpen, 'a process of main kept its stdout open').toBe(false);
  const configDir = main.outputs['config-dir'];
  expect(configDir.startsWith(`${job.runnerTemp}/`), configDir).toBe(true);
  expect(main.exportedEnv.DOCKER_CONFIG).toBe(configDir);

  const config = await readJobConfig(main);
  expect(findKeys(config, 'auth'), 'auth fields in config.json').toEqual([]);
  expect(findKeys(config, 'password'), 'password fields in config.json').toEqual([]);
  const helpers = servers.map((server) => config.credHelpers?.[server]);
  expect(typeof helpers[0], JSON.stringify(config)).toBe('string');
  for (const [index, server] of servers.entries()) {
    expect(helpers[index], `credHelpers entry of ${server}`).toBe(helpers[0]);
  }

  const wrapper = `docker-credential-${helpers[0]}`;
  const holders = [];
  for (const folder of main.addedPath) {
    if (existsSync(folder) && (await readdir(folder)).includes(wrapper)) holders.push(folder);
  }
  expect(holders, `${wrapper} in ${main.addedPath.join(', ')}`).not.toEqual([]);
  return wrapper;
}

/**
 * Checks that the job's helper returns exactly `user` and `secret` for `server`, as later docker
 * commands would get them. The registries check only 72 bytes of a bcrypt password, so this is
 * the byte-for-byte check.
 */
export async function expectStoredCredential(
  job: Job,
  wrapper: string,
  server: string,
  expected: { user: string; secret: string },
): Promise<void> {
  const stored = await job.run(wrapper, ['get'], { input: server, printsSecret: true });
  expect(stored.exitCode, `${wrapper} get ${server}: exit ${stored.exitCode}`).toBe(0);
  const credential = JSON.parse(stored.stdout) as { Username: string; Secret: string };
  expect(credential.Username, `user stored for ${server}`).toBe(expected.user);
  const same = credential.Secret === expected.secret;
  expect(same, `the secret stored for ${server} equals the expected one`).toBe(true);
}

/** Checks that no step printed a secret, except in `::add-mask::` commands. */
export function expectNoLeakInOutput(job: Job, secrets: string[]): void {
  for (const step of job.steps.filter((entry) => !entry.printsSecret)) {
    for (const stream of ['stdout', 'stderr'] as const) {
      const text = step.result[stream]
        .split('\n')
        .filter((line) => !line.startsWith('::add-mask::'))
        .join('\n');
      for (const [index, secret] of secrets.entries()) {
        const leaked = text.includes(secret);
        expect(leaked, `step '${step.name}' ${stream} contains secret form ${index}`).toBe(false);
      }
    }
  }
}

/** Checks that no file under the job's folder contains any of the secrets. */
export async function expectNoLeakInFiles(job: Job, secrets: string[]): Promise<void> {
  const needles = secrets.map((secret) => Buffer.from(secret));
  expect(await findInTree([job.root], needles), 'files that contain a password').toEqual([]);
}

/**
 * Checks that no key, agent, socket, password store or process of the job remains. The tool
 * cache is left out: the pass release it may hold ships test keys in `tests/gnupg`.
 */
export async function expectCleanedUp(job: Job): Promise<void> {
  const entries = (await walkTree([job.root])).filter(
    (entry) => !entry.path.startsWith(`${job.toolCache}/`),
  );
  const keys = entries.filter((entry) => /\/private-keys-v1\.d\/[^/]+\.key$/.test(entry.path));
  expect(keys, 'private keys left').toEqual([]);
  const sockets = entries.filter((entry) => entry.type === 'socket');
  expect(sockets, 'sockets left (gpg-agent)').toEqual([]);
  const stores = entries.filter((entry) =>
    /\/(docker-credential-helpers|\.gpg-id)$/.test(entry.path),
  );
  expect(stores, 'password store left').toEqual([]);
  const workDirs = entries.filter(
    (entry) => dirname(entry.path) === job.runnerTemp && basename(entry.path).startsWith('dpl-'),
  );
  expect(workDirs, 'work folders left under RUNNER_TEMP').toEqual([]);
  const processes = await findProcessesMentioning(job.runnerTemp);
  expect(processes, 'processes that name RUNNER_TEMP').toEqual([]);
}

/** Returns whether a `docker push` output shows the registry rejected anonymous access. */
export function isAuthError(result: StepResult): boolean {
  return /no basic auth credentials|unauthorized|denied|authentication required/i.test(
    `${result.stdout}\n${result.stderr}`,
  );
}
