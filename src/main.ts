import { existsSync, mkdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from './actions-core.js';
import {
  backUpConfig,
  buildConfig,
  CONFIG_BACKUP,
  CONFIG_WRITTEN,
  plannedLinks,
  readConfigFile,
  readConfig,
  userConfigDir,
  writeHelperWrapper,
  writeJobConfig,
} from './docker-config.js';
import { createGnupgHome, importKey } from './gpg.js';
import { generateKey, type EphemeralKey } from './keygen.js';
import { readInputs, type Inputs, type Login } from './inputs.js';
import { installHelper, installPass, type InstalledTool } from './install.js';
import {
  dockerLogin,
  eraseCredential,
  isDaemonUnavailable,
  storeCredential,
  verifyStoredCredential,
  type DockerContext,
  type RetryPolicy,
} from './login.js';
import { initStore, writePassShim, writePassWrapper } from './pass.js';
import { planPaths, type WorkPaths } from './paths.js';
import { phase } from './phase.js';
import { helperPlatform } from './platform.js';
import { checkTools, findOnPath, type Tools } from './preflight.js';
import { verifyWithRegistry } from './registry-api.js';
import { scrub } from './secrets.js';
import { saveState } from './state.js';
import { writeSummary } from './summary.js';

/** Paths and settings of this use of the action, decided before anything is created. */
interface Plan extends WorkPaths {
  servers: string[];
  /** The folder of the job's config.json: `config-dir`, or one under workDir. */
  configDir: string;
  /** True when `config-dir` names the folder, so post restores instead of removing it. */
  externalConfig: boolean;
}

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
  saveState({ completed: true });
}

async function login(): Promise<void> {
  // Files that gpg, pass and docker create are then owner-only whatever the runner's umask.
  process.umask(0o077);
  const inputs = readInputs();
  // The runner passes inputs as INPUT_* variables. Every tool started from here on, the
  // long-lived gpg-agent among them, would otherwise keep the password in its environment.
  for (const name of Object.keys(process.env)) {
    if (name.startsWith('INPUT_')) delete process.env[name];
  }
  const plan = planJob(inputs);
  // The tool checks start their processes first, so they run while openpgp parses on this
  // thread. Key generation needs no network, so it also runs while the helper downloads.
  const toolsPromise = checkTools(process.platform);
  toolsPromise.catch(() => undefined);
  const keyPromise = generateKey();
  keyPromise.catch(() => undefined);
  const tools = await phase('Check required tools', () => toolsPromise);
  const helper = await phase('Install docker-credential-pass', () =>
    installHelperFor(inputs, plan),
  );
  const toolDirs = await installPassIfMissing(tools, inputs, plan);
  await rm(join(plan.workDir, 'download'), { recursive: true, force: true });

  const key = await phase('Create the ephemeral GnuPG key', () => setUpGnupg(plan, keyPromise));
  core.setOutput('key-fingerprint', key.fingerprint);

  await phase('Initialise the password store', async () => {
    await mkdir(plan.storeDir, { mode: 0o700 });
    await initStore(plan.gnupgHome, plan.storeDir, key.fingerprint, toolDirs);
    core.info(`Store : ${plan.storeDir}`);
  });

  const wrapper = await phase('Write the Docker config', () =>
    writeDockerConfig(plan, helper, toolDirs).catch((error: Error) => {
      if (!plan.externalConfig) throw error;
      throw new Error(
        `Input 'config-dir' names ${plan.configDir}, where the Docker config cannot be ` +
          `edited: ${error.message}. Fix that, or leave config-dir empty.`,
      );
    }),
  );
  core.setOutput('config-dir', plan.configDir);

  // The store is new, so only a server that an earlier entry of this step logged in to can have
  // an older credential to erase.
  const loggedIn = new Set<string>();
  for (const entry of inputs.logins) {
    await phase(`Log in to ${entry.registry.server}`, async () => {
      const context = { configDir: plan.configDir, binDir: plan.binDir };
      if (loggedIn.has(entry.registry.server)) {
        await eraseCredential(entry.registry.server, context, wrapper);
      }
      loggedIn.add(entry.registry.server);
      await logIn(entry, context, wrapper, tools.docker, inputs.retry);
      await verifyStoredCredential(entry, context, wrapper);
      core.info(`Logged in to ${entry.registry.server} as ${entry.username}`);
    });
  }

  await writeSummary({
    servers: plan.servers,
    helperVersion: inputs.helperVersion,
    helperSource: helper.source === 'download' ? helper.url : 'the tool cache',
    fingerprint: key.fingerprint,
    configDir: plan.configDir,
    externalConfig: plan.externalConfig,
    workDir: plan.workDir,
    logout: inputs.logout,
  });
}

/**
 * Decides every path and saves what post needs before anything exists, so that post can clean
 * up after a failure at any point.
 */
function planJob(inputs: Inputs): Plan {
  const paths = planPaths(process.env.RUNNER_TEMP);
  const plan: Plan = {
    ...paths,
    servers: inputs.logins.map((entry) => entry.registry.server),
    configDir: inputs.configDir ?? paths.configDir,
    externalConfig: inputs.configDir !== undefined,
  };
  // The config-dir input is saved later, once its config.json is backed up.
  saveState({
    workDir: paths.workDir,
    servers: plan.servers,
    logout: inputs.logout,
    previousDockerConfig: process.env.DOCKER_CONFIG ?? '',
  });
  mkdirSync(paths.workDir, { mode: 0o700 });

  if (!process.env.RUNNER_TOOL_CACHE) {
    // The runner always sets it; outside a runner, download into RUNNER_TEMP, which it empties.
    process.env.RUNNER_TOOL_CACHE = join(process.env.RUNNER_TEMP as string, 'dpl-tool-cache');
    core.info(`RUNNER_TOOL_CACHE is not set; using ${process.env.RUNNER_TOOL_CACHE}.`);
  }
  return plan;
}

async function installHelperFor(inputs: Inputs, plan: Plan): Promise<InstalledTool> {
  const armVersion = (process.config.variables as { arm_version?: string }).arm_version;
  const platform = helperPlatform(process.platform, process.arch, armVersion);
  const installed = await installHelper(
    inputs.helperVersion,
    inputs.helperMirror,
    platform,
    plan.workDir,
    plan.helperDir,
  );
  core.info(`Version : ${inputs.helperVersion} (${platform})`);
  core.info(`Source  : ${installed.source === 'download' ? installed.url : installed.source}`);
  core.info(`Copy    : ${installed.path}`);
  core.info(`SHA-256 : ${installed.digest}`);
  return installed;
}

/**
 * Installs pass from its release tarball where it is missing, and returns the folders that pass
 * and the helper need first on their PATH because the job's PATH lacks them.
 */
async function installPassIfMissing(tools: Tools, inputs: Inputs, plan: Plan): Promise<string[]> {
  const toolDirs = tools.getoptDir ? [tools.getoptDir] : [];
  if (tools.pass) return toolDirs;
  await phase('Install pass', async () => {
    const installed = await installPass(inputs.passMirror, plan.workDir, plan.passDir);
    await writePassWrapper(plan.passDir, installed.path);
    core.info(`Source  : ${installed.source === 'download' ? installed.url : installed.source}`);
    core.info(`Script  : ${installed.path}`);
    core.info(`SHA-256 : ${installed.digest}`);
  });
  return [plan.passDir, ...toolDirs];
}

async function setUpGnupg(plan: Plan, keyPromise: Promise<EphemeralKey>): Promise<EphemeralKey> {
  const key = await keyPromise;
  saveState({ fingerprint: key.fingerprint });
  await createGnupgHome(plan.gnupgHome);
  await importKey(plan.gnupgHome, key);
  core.info(`Fingerprint : ${key.fingerprint}`);
  core.info(`GnuPG home  : ${plan.gnupgHome}`);
  return key;
}

/**
 * Writes the job's config.json and the helper wrapper, exports DOCKER_CONFIG and puts the
 * wrapper on PATH for later steps. Returns the wrapper's path.
 */
async function writeDockerConfig(
  plan: Plan,
  helper: InstalledTool,
  toolDirs: string[],
): Promise<string> {
  const { configDir, externalConfig } = plan;
  const sourceDir = userConfigDir();
  // A config-dir that already has a config.json is edited in place and restored by post.
  const inPlace = externalConfig && existsSync(join(configDir, 'config.json'));
  // A file that post could not read back would stay edited, so it is checked before any edit.
  if (inPlace) await readConfigFile(join(configDir, 'config.json'));
  if (externalConfig) {
    const backupFile = join(plan.workDir, CONFIG_BACKUP);
    const mode = inPlace ? await backUpConfig(configDir, backupFile) : undefined;
    // Only from here on may post restore or delete the config.json of config-dir.
    saveState({
      externalConfigDir: configDir,
      externalConfigMode: mode,
      externalConfigCreated: !existsSync(configDir),
    });
  }

  const base = await readConfig(inPlace ? configDir : sourceDir);
  const helperExists = (name: string) => findOnPath(`docker-credential-${name}`) !== undefined;
  const config = buildConfig(base, plan.servers, plan.helperName, inPlace, helperExists);
  const linkSource = inPlace ? configDir : sourceDir;
  const links = plannedLinks(configDir, linkSource);
  if (externalConfig) saveState({ externalLinks: links });
  if (externalConfig && !inPlace) {
    const written = `${JSON.stringify(config, null, 2)}\n`;
    await writeFile(join(plan.workDir, CONFIG_WRITTEN), written, { mode: 0o600 });
  }
  await writeJobConfig(configDir, linkSource, config, links);

  const realPass = findOnPath('pass') ?? join(plan.passDir, 'pass');
  await writePassShim(plan.shimDir, realPass);
  const wrapper = await writeHelperWrapper({
    ...plan,
    toolDirs: [plan.shimDir, ...toolDirs],
    helperPath: helper.path,
  });
  core.exportVariable('DOCKER_CONFIG', configDir);
  core.addPath(plan.binDir);

  const origin = inPlace
    ? 'edited in place, backed up'
    : existsSync(join(sourceDir, 'config.json'))
      ? `settings carried over from ${sourceDir}`
      : `no config.json in ${sourceDir} to carry settings over from`;
  core.info(`Config folder  : ${configDir} (${origin})`);
  core.info(`Helper wrapper : ${wrapper}`);
  return wrapper;
}

/**
 * Logs in with `docker login`. Where there is no docker CLI, or the CLI fails because no daemon
 * responds, it checks the credentials against the registry API and stores them through the
 * helper instead. Docker CLI 20.10 and 28 log in without a daemon themselves.
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
      core.info('No Docker daemon responds; checking the credentials against the registry API.');
    }
  }
  await verifyWithRegistry(entry, retry);
  await storeCredential(entry, context, helper);
}
