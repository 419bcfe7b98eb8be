/**
 * Checks shared by the fault tests: the annotations a step printed, and that the post step left
 * no key, agent, password store, job config folder or download behind.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { describeResult } from './exec.js';
import { findProcessesMentioning, walkTree } from './inspect.js';
import type { ActionRunOptions, Job, StepResult } from './runner.js';

/** The folder in RUNNER_TEMP where the runner stand-in keeps its file-command files. */
const FILE_COMMANDS = '_runner_file_commands';

/**
 * Returns the messages of a step's `::error::` or `::warning::` workflow commands, one a line,
 * with the runner's escapes (`%25`, `%0D`, `%0A`) decoded.
 */
export function annotations(result: StepResult, kind: 'error' | 'warning'): string {
  const prefix = `::${kind}::`;
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .map((line) =>
      line.slice(prefix.length).replace(/%0D/g, '\r').replace(/%0A/g, '\n').replace(/%25/g, '%'),
    )
    .join('\n');
}

/** Returns the entries of RUNNER_TEMP other than the runner's own file-command folder. */
/** Returns the files under RUNNER_TEMP, outside the runner's file-command folder. */
export async function runnerTempFiles(job: Job): Promise<string[]> {
  const entries = await walkTree([job.runnerTemp]);
  const commands = join(job.runnerTemp, FILE_COMMANDS);
  return entries
    .filter((entry) => entry.type !== 'directory' && !entry.path.startsWith(`${commands}/`))
    .map((entry) => entry.path);
}

export async function runnerTempLeftovers(job: Job): Promise<string[]> {
  const names = existsSync(job.runnerTemp) ? await readdir(job.runnerTemp) : [];
  return names.filter((name) => name !== FILE_COMMANDS);
}

/**
 * Checks that no private key, socket, password store, entry in RUNNER_TEMP or process that names
 * RUNNER_TEMP remains.
 */
export async function expectCleanedUp(job: Job): Promise<void> {
  const entries = await walkTree([job.root]);
  const keys = entries.filter((entry) => /\/private-keys-v1\.d\/[^/]+\.key$/.test(entry.path));
  expect(keys, 'private keys left').toEqual([]);
  const sockets = entries.filter((entry) => entry.type === 'socket');
  expect(sockets, 'sockets left (gpg-agent)').toEqual([]);
  const stores = entries.filter((entry) =>
    /\/(docker-credential-helpers|\.gpg-id)$/.test(entry.path),
  );
  expect(stores, 'password store left').toEqual([]);
  expect(existsSync(join(job.home, '.password-store')), '~/.password-store').toBe(false);
  expect(existsSync(join(job.home, '.gnupg', 'private-keys-v1.d')), '~/.gnupg keys').toBe(false);
  expect(await runnerTempLeftovers(job), 'entries left in RUNNER_TEMP').toEqual([]);

  const processes = await findProcessesMentioning(job.runnerTemp);
  expect(processes, 'processes that name RUNNER_TEMP').toEqual([]);
}

/**
 * Runs the post step, checks that it exits 0, and checks that nothing is left. `inputs` is for a
 * post step without a main step; otherwise post gets the inputs of its main.
 */
export async function runPostAndExpectClean(
  job: Job,
  options: ActionRunOptions = {},
  inputs?: Record<string, string>,
): Promise<StepResult> {
  const post = await job.runAction('post', inputs, options);
  expect(post.exitCode, describeResult(post)).toBe(0);
  expect(annotations(post, 'error'), 'error annotations of post').toBe('');
  await expectCleanedUp(job);
  return post;
}
