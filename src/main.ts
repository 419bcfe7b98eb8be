import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import {
  backUpConfig,
  buildConfig,
  readConfig,
  userConfigDir,
  writeHelperWrapper,
  writeJobConfig,
} from './docker-config.js';
import { createGnupgHome, generateKey, importKey, type EphemeralKey } from './gpg.js';
import { readInputs, type Login } from './inputs.js';
import { installHelper, installPass } from './install.js';
import {
  dockerLogin,
  eraseCredential,
  isDaemonUnavailable,
  storeCredential,
  verifyStoredCredential,
  type DockerContext,
  type RetryPolicy,
} from './login.js';
import { verifyWithRegistry } from './registry-api.js';
import { initStore, writePassWrapper } from './pass.js';
import { planPaths } from './paths.js';
import { phase } from './phase.js';
import { helperPlatform } from './platform.js';
import { checkTools } from './preflight.js';
import { saveState } from './state.js';
import { writeSummary } from './summary.js';
import { scrub } from './secrets.js';

/**
 * Main step: installs docker-credential-pass, sets up an ephemeral key, a private GnuPG home and
 * a private password store, points a job-only Docker config at them and logs in.
 */
export async function runMain(): Promise<void> {
  try {
    await login();
  } catch (error) {
    core.setFailed(scrub(error instanceof Error ? error.message : String(error)));
  }
}

async function login(): Promise<void> {
  // Files that gpg, pass and docker create are then owner-only whatever the runner's umask.
  process.umask(0o077);
  const inputs = readInputs();
  const paths = planPaths(process.env.RUNNER_TEMP);
  const servers = inputs.logins.map((entry) => entry.registry.server);
  const configDir = inputs.configDir ?? paths.configDir;
  const externalConfig = inputs.configDir !== undefined;
  // Saved before anything exists, so that post can clean up after a failure at any point.
  saveState({ ...paths, configDir, servers, logout: inputs.logout });

  if (!process.env.RUNNER_TOOL_CACHE) {
    // The runner always sets it; outside a runner, download into RUNNER_TEMP, which it empties.
    process.env.RUNNER_TOOL_CACHE = join(process.env.RUNNER_TEMP as string, 'dpl-tool-cache');
    core.info(`RUNNER_TOOL_CACHE is not set; using ${process.env.RUNNER_TOOL_CACHE}.`);
  }
  const platform = helperPlatform(
    process.platform,
    process.arch,
    (process.config.variables as { arm_version?: string }).arm_version,
  );
  const tools = await phase('Check required tools', () => checkTools(process.platform));

  // Key generation needs no network, so it runs while the helper downloads.
  const keyPromise = generateKey();
  keyPromise.catch(() => undefined);
  const helper = await phase('Install docker-credential-pass', async () => {
    const installed = await installHelper(inputs.helperVersion, inputs.helperMirror, platform);
    core.info(`Version : ${inputs.helperVersion} (${platform})`);
    core.info(`Source  : ${installed.source === 'download' ? installed.url : installed.source}`);
    core.info(`Path    : ${installed.path}`);
    core.info(`SHA-256 : ${installed.digest}`);
    return installed;
  });

  const passDir = tools.pass ? undefined : paths.passDir;
  if (passDir) {
    await phase('Install pass', async () => {
      const installed = await installPass(inputs.passMirror);
      await mkdir(paths.workDir, { recursive: true, mode: 0o700 });
      await writePassWrapper(passDir, installed.path);
      core.info(`Source  : ${installed.source === 'download' ? installed.url : installed.source}`);
      core.info(`Script  : ${installed.path}`);
      core.info(`SHA-256 : ${installed.digest}`);
    });
  }

  // Folders that pass and the helper need first on their PATH, and that the job's PATH lacks.
  const toolDirs = [passDir, tools.getoptDir].filter((dir) => dir !== undefined);

  const key: EphemeralKey = await phase('Create the ephemeral GnuPG key', async () => {
    await mkdir(paths.workDir, { recursive: true, mode: 0o700 });
    const generated = await keyPromise;
    saveState({ fingerprint: generated.fingerprint });
    await createGnupgHome(paths.gnupgHome);
    await importKey(paths.gnupgHome, generated);
    core.info(`Fingerprint : ${generated.fingerprint}`);
    core.info(`GnuPG home  : ${paths.gnupgHome}`);
    return generated;
  });
  core.setOutput('key-fingerprint', key.fingerprint);

  await phase('Initialise the password store', async () => {
    await mkdir(paths.storeDir, { mode: 0o700 });
    await initStore(paths.gnupgHome, paths.storeDir, key.fingerprint, toolDirs);
    core.info(`Store : ${paths.storeDir}`);
  });

  const wrapper = await phase('Write the Docker config', async () => {
    const sourceDir = userConfigDir();
    // A config-dir that already has a config.json is edited in place and restored by post.
    const inPlace = externalConfig && existsSync(join(configDir, 'config.json'));
    if (externalConfig) {
      const backupFile = join(paths.workDir, 'config.json.orig');
      const backup = inPlace ? await backUpConfig(configDir, backupFile) : undefined;
      // Only from here on may post restore or delete the config.json of config-dir.
      saveState({ externalConfig, configBackup: backup });
    }
    const base = await readConfig(inPlace ? configDir : sourceDir);
    const config = buildConfig(base, servers, paths.helperName, inPlace);
    await writeJobConfig(configDir, externalConfig ? configDir : sourceDir, config);
    const path = await writeHelperWrapper({ ...paths, toolDirs, helperPath: helper.path });
    core.exportVariable('DOCKER_CONFIG', configDir);
    core.addPath(paths.binDir);
    const origin = inPlace
      ? 'edited in place, backed up'
      : `settings carried over from ${sourceDir}`;
    core.info(`Config folder  : ${configDir} (${origin})`);
    core.info(`Helper wrapper : ${path}`);
    return path;
  });
  core.setOutput('config-dir', configDir);

  for (const entry of inputs.logins) {
    await phase(`Log in to ${entry.registry.server}`, async () => {
      const context = { configDir, binDir: paths.binDir };
      await eraseCredential(entry.registry.server, context, wrapper);
      await logIn(entry, context, wrapper, tools.docker, inputs.retry);
      await verifyStoredCredential(entry, context, wrapper);
      core.info(`Logged in to ${entry.registry.server} as ${entry.username}`);
    });
  }

  await writeSummary({
    servers,
    helperVersion: inputs.helperVersion,
    helperSource: helper.source === 'download' ? helper.url : 'the tool cache',
    fingerprint: key.fingerprint,
    configDir,
    externalConfig,
    workDir: paths.workDir,
    logout: inputs.logout,
  });
}

/**
 * Logs in with `docker login`, or, where there is no docker CLI or no daemon answers it (older
 * CLIs need one), checks the credentials against the registry API and stores them through the
 * helper.
 */
async function logIn(
  entry: Login,
  context: DockerContext,
  helper: string,
  dockerCli: boolean,
  retry: RetryPolicy,
): Promise<void> {
  if (dockerCli) {
    try {
      await dockerLogin(entry, context, retry);
      return;
    } catch (error) {
      if (!isDaemonUnavailable(error)) throw error;
      core.info('No Docker daemon answers; checking the credentials against the registry API.');
    }
  }
  await verifyWithRegistry(entry, retry);
  await storeCredential(entry, context, helper);
}
