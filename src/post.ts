import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { rm, rmdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import * as core from './actions-core.js';
import { removeLinks, restoreConfig } from './docker-config.js';
import { runTool } from './exec.js';
import { deleteKey, stopAgent } from './gpg.js';
import { dockerEnv } from './login.js';
import { pathsIn, WORK_DIR_NAME, type WorkPaths } from './paths.js';
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
  const reason = foreignReason(state.workDir);
  if (reason) {
    core.warning(`Not cleaning up '${state.workDir}': ${reason}.`);
    return;
  }
  if (!state.completed) {
    core.warning(
      'The main step did not finish, for example because the job was cancelled, so part of ' +
        'what it sets up may be missing. Removing what there is.',
    );
  }
  const paths = pathsIn(state.workDir);
  await core.group('Log out and remove the credentials', () => cleanUp(state, paths));
}

async function cleanUp(state: SavedState, paths: WorkPaths): Promise<void> {
  const started = performance.now();
  const { workDir, gnupgHome } = paths;
  const configDir = state.externalConfigDir ?? paths.configDir;
  const servers = state.servers ?? [];

  if (existsSync(join(configDir, 'config.json'))) {
    for (const server of servers) await logOut(server, configDir, paths);
  }
  if (state.externalConfigDir) await undoConfigEdit(state, state.externalConfigDir, paths);

  if (existsSync(gnupgHome)) {
    if (state.fingerprint) {
      const fingerprint = state.fingerprint;
      await attempt('Deleting the key', () => deleteKey(gnupgHome, fingerprint));
    }
    await attempt('Stopping gpg-agent', () => stopAgent(gnupgHome));
  }
  await attempt(`Removing ${workDir}`, () => rm(workDir, { recursive: true, force: true }));

  // Post steps of actions used before this one run after it, and must not see a DOCKER_CONFIG
  // that names the folder just removed.
  if (process.env.DOCKER_CONFIG === configDir) {
    const previous = state.previousDockerConfig || join(homedir(), '.docker');
    core.exportVariable('DOCKER_CONFIG', previous);
    core.info(`DOCKER_CONFIG for later steps: ${previous}`);
  }
  core.info(`Cleaned up in ${Math.round(performance.now() - started)} ms`);
}

/** Removes main's links from the `config-dir` folder and undoes its edit of config.json. */
async function undoConfigEdit(state: SavedState, configDir: string, paths: WorkPaths) {
  const links = state.externalLinks ?? [];
  if (links.length > 0) {
    await attempt(`Removing links in ${configDir}`, () => removeLinks(configDir, links));
  }
  const { workDir, helperName } = paths;
  const mode = state.externalConfigMode;
  await attempt(`Undoing the edit of ${configDir}/config.json`, async () => {
    const done = await restoreConfig(configDir, workDir, mode, helperName, state.servers ?? []);
    if (done === 'cleaned') {
      core.warning(
        `${configDir}/config.json was changed during the job by something else, so only this ` +
          "job's credential helper entries were removed from it instead of restoring it.",
      );
    }
  });
  // A folder that main created goes again, unless something else now uses it.
  if (state.externalConfigCreated) await rmdir(configDir).catch(() => undefined);
}

/** Runs `docker logout`, or without a docker CLI the helper's `erase`, which it would run. */
async function logOut(server: string, configDir: string, paths: WorkPaths): Promise<void> {
  const [tool, args] = findOnPath('docker')
    ? ['docker', ['logout', server]]
    : [join(paths.binDir, `docker-credential-${paths.helperName}`), ['erase']];
  await attempt(`Logging out of ${server}`, () =>
    runTool(tool, args, {
      purpose: `Logging out of ${server}`,
      input: tool === 'docker' ? '' : server,
      env: dockerEnv({ configDir, binDir: paths.binDir }),
      timeoutMs: 30_000,
    }),
  );
}

async function attempt(what: string, action: () => Promise<unknown>): Promise<void> {
  try {
    await action();
    core.info(`${what}: done`);
  } catch (error) {
    core.warning(`${what} failed: ${(error as Error).message}`);
  }
}

/**
 * Guards the recursive removal: returns why `path` is not a `dpl-<hex>` folder directly under
 * RUNNER_TEMP, or undefined when it is one.
 */
function foreignReason(path: string): string | undefined {
  if (!process.env.RUNNER_TEMP) {
    return 'RUNNER_TEMP is not set, so it cannot be checked to be inside it';
  }
  const runnerTemp = resolve(process.env.RUNNER_TEMP);
  if (!WORK_DIR_NAME.test(basename(path))) return 'it is not a folder this action creates';
  if (dirname(resolve(path)) !== runnerTemp) return 'it is not directly under RUNNER_TEMP';
  return undefined;
}
