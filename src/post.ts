import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as core from '@actions/core';
import { runTool } from './exec.js';
import { restoreConfig } from './docker-config.js';
import { deleteKey, stopAgent } from './gpg.js';
import { dockerEnv } from './login.js';
import { findOnPath } from './preflight.js';
import { loadState, type SavedState } from './state.js';

/**
 * Post step: logs out of each registry, deletes the key, stops the agent and removes the
 * GnuPG home, the password store, the helper wrapper and the job's Docker config. Works from the
 * saved state alone, also after a main step that failed or was cancelled half way. A failure
 * here is a warning, never a failed job.
 */
export async function runPost(): Promise<void> {
  const state = loadState();
  if (state.logout === false) {
    core.info(
      'logout is false: the credentials stay in the encrypted store until the runner empties ' +
        'RUNNER_TEMP at the end of the job.',
    );
    return;
  }
  if (!state.workDir) {
    core.info('The main step created nothing, so there is nothing to clean up.');
    return;
  }
  if (!isOwnWorkDir(state.workDir)) {
    core.warning(`Not removing '${state.workDir}': it is not a folder this action creates.`);
    return;
  }
  await core.group('Log out and remove the credentials', () => cleanUp(state));
}

async function cleanUp(state: SavedState): Promise<void> {
  const started = performance.now();
  const { workDir, gnupgHome, configDir, binDir } = state;
  if (configDir && binDir && existsSync(join(configDir, 'config.json'))) {
    for (const server of state.servers ?? []) {
      // Without a docker CLI the helper erases the credential itself, as docker logout would.
      const [tool, args] = findOnPath('docker')
        ? ['docker', ['logout', server]]
        : [join(binDir, `docker-credential-${state.helperName}`), ['erase']];
      await attempt(`Logging out of ${server}`, () =>
        runTool(tool, args, {
          purpose: `Logging out of ${server}`,
          input: tool === 'docker' ? '' : server,
          env: dockerEnv({ configDir, binDir }),
          timeoutMs: 30_000,
        }),
      );
    }
  }
  if (state.externalConfig && configDir) {
    const backup = state.configBackup;
    const what = backup
      ? `Restoring ${configDir}/config.json`
      : `Removing ${configDir}/config.json`;
    await attempt(what, () => restoreConfig(configDir, backup));
  }
  if (gnupgHome && existsSync(gnupgHome)) {
    if (state.fingerprint) {
      const fingerprint = state.fingerprint;
      await attempt('Deleting the key', () => deleteKey(gnupgHome, fingerprint));
    }
    await attempt('Stopping gpg-agent', () => stopAgent(gnupgHome));
  }
  if (workDir) {
    await attempt(`Removing ${workDir}`, () => rm(workDir, { recursive: true, force: true }));
  }
  core.info(`Cleaned up in ${Math.round(performance.now() - started)} ms`);
}

async function attempt(what: string, action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
    core.info(`${what}: done`);
  } catch (error) {
    core.warning(`${what} failed: ${(error as Error).message}`);
  }
}

/** Guards the recursive removal: only `dpl-<hex>` folders directly under RUNNER_TEMP. */
function isOwnWorkDir(path: string): boolean {
  const runnerTemp = process.env.RUNNER_TEMP;
  const ownName = /^dpl-[0-9a-f]{8}$/.test(basename(path));
  return ownName && (!runnerTemp || dirname(path) === runnerTemp.replace(/\/+$/, ''));
}
