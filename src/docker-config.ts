import { existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  readFile,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import * as core from './actions-core.js';

type DockerConfig = Record<string, unknown> & {
  auths?: Record<string, unknown>;
  credHelpers?: Record<string, string>;
};

/**
 * Entries of a Docker config folder besides config.json: buildx builders, compose and other CLI
 * plugins, `docker context` metadata, and the TLS client files that the docker CLI reads from
 * the config folder when DOCKER_TLS_VERIFY is set without DOCKER_CERT_PATH. The job's config
 * folder links them so that later docker commands behave as with the user's folder.
 */
const SHARED_ENTRIES = ['cli-plugins', 'buildx', 'contexts', 'ca.pem', 'cert.pem', 'key.pem'];

/** Returns the Docker config folder in effect before this action: DOCKER_CONFIG or ~/.docker. */
export function userConfigDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DOCKER_CONFIG || join(homedir(), '.docker');
}

/**
 * Reads config.json of `dir`. Returns an empty config when there is none, and warns and returns
 * an empty config when it is not valid JSON, because the job's own config replaces it anyway.
 */
export async function readConfig(dir: string): Promise<DockerConfig> {
  const file = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return parsed as DockerConfig;
    }
  } catch {
    // Reported below.
  }
  core.warning(`${file} is not a JSON object; none of its settings carry over to this job.`);
  return {};
}

/**
 * Returns the job's config: every setting of the user's config (proxies, plugin folders, current
 * context, other credential helpers) with each server's credentials sent through the helper
 * `helperName`. `auths`, whose `auth` values are plain-text passwords, is dropped unless
 * `keepAuths` is set, which is for editing a config in place that post restores.
 */
export function buildConfig(
  userConfig: DockerConfig,
  servers: string[],
  helperName: string,
  keepAuths = false,
  helperExists: (name: string) => boolean = () => true,
): DockerConfig {
  const config: DockerConfig = { ...userConfig };
  if (!keepAuths) delete config.auths;
  const credHelpers: Record<string, string> = {};
  for (const [server, helper] of Object.entries(userConfig.credHelpers ?? {})) {
    // An entry of an earlier use of this action whose wrapper is gone, for example one that an
    // edit in place left when its post step never ran, would make docker fail for that server.
    if (OWN_HELPER_NAME.test(helper) && !helperExists(helper)) continue;
    credHelpers[server] = helper;
  }
  for (const server of servers) credHelpers[server] = helperName;
  config.credHelpers = credHelpers;
  return config;
}

/** Matches the helper names that this action writes into config.json. */
const OWN_HELPER_NAME = /^pass-login-[0-9a-f]{8}$/;

/**
 * Returns the shared entries of `sourceDir` that the config folder lacks and should link to: the
 * links that writeJobConfig creates.
 */
export function plannedLinks(configDir: string, sourceDir: string): string[] {
  if (configDir === sourceDir) return [];
  return SHARED_ENTRIES.filter(
    (name) => existsSync(join(sourceDir, name)) && !existsSync(join(configDir, name)),
  );
}

/** Creates the config folder (0700) with config.json (0600) and the `links` to `sourceDir`. */
export async function writeJobConfig(
  configDir: string,
  sourceDir: string,
  config: DockerConfig,
  links: string[],
): Promise<void> {
  await mkdir(configDir, { recursive: true, mode: 0o700 });
  for (const name of links) await symlink(join(sourceDir, name), join(configDir, name));
  await writeFile(join(configDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, {
    mode: 0o600,
  });
}

/** Name of the copy of a config.json that the main step edits in place, inside workDir. */
export const CONFIG_BACKUP = 'config.json.orig';
/** Name of the copy, inside workDir, of a config.json that main created in config-dir. */
export const CONFIG_WRITTEN = 'config.json.written';

/**
 * Copies the config.json of `configDir`, if there is one, to `backupFile` (0600) before it is
 * edited in place. Returns the permission bits of the original, or undefined when there is none.
 */
export async function backUpConfig(
  configDir: string,
  backupFile: string,
): Promise<number | undefined> {
  const file = join(configDir, 'config.json');
  if (!existsSync(file)) return undefined;
  const { mode } = await stat(file);
  await copyFile(file, backupFile);
  await chmod(backupFile, 0o600);
  return mode & 0o7777;
}

/**
 * Undoes the main step's edit of the config.json in `configDir`. It removes this use's helper
 * entries (and the `auths` entries docker wrote for `servers`) from the current file. When what
 * remains is the file as it was before, the backup is put back byte for byte with its `mode`,
 * or the file is deleted where there was none (`mode` undefined, and main saved what it wrote). When something else changed the
 * file during the job, such as another job that edits the same file, only this use's entries
 * are removed and the rest is kept. Returns which of the three it did.
 */
export async function restoreConfig(
  configDir: string,
  workDir: string,
  mode: number | undefined,
  helperName: string,
  servers: string[],
): Promise<'restored' | 'removed' | 'cleaned'> {
  const file = join(configDir, 'config.json');
  const backupFile = join(workDir, CONFIG_BACKUP);
  // Where there was no config.json, the baseline is what main wrote, less its own entries.
  const original =
    mode === undefined
      ? withoutHelper(await readConfigFile(join(workDir, CONFIG_WRITTEN)), {}, helperName, servers)
      : await readConfigFile(backupFile);
  const current = await readConfigFile(file);
  const cleaned = withoutHelper(current, original, helperName, servers);
  if (JSON.stringify(sortKeys(cleaned)) === JSON.stringify(sortKeys(original))) {
    if (mode === undefined) {
      await rm(file, { force: true });
      return 'removed';
    }
    await copyFile(backupFile, file);
    await chmod(file, mode);
    return 'restored';
  }
  await writeFile(file, `${JSON.stringify(cleaned, null, 2)}\n`);
  return 'cleaned';
}

/**
 * Returns `current` without the credHelpers entries that name `helperName`, and with the `auths`
 * entries of `servers` as they were in `original`.
 */
function withoutHelper(
  current: DockerConfig,
  original: DockerConfig,
  helperName: string,
  servers: string[],
): DockerConfig {
  const result: DockerConfig = { ...current };
  const credHelpers = Object.entries(current.credHelpers ?? {}).filter(
    ([, helper]) => helper !== helperName,
  );
  if (credHelpers.length > 0 || original.credHelpers) {
    result.credHelpers = Object.fromEntries(credHelpers);
  } else {
    delete result.credHelpers;
  }
  const auths: Record<string, unknown> = { ...(current.auths ?? {}) };
  for (const server of servers) {
    if (original.auths && server in original.auths) auths[server] = original.auths[server];
    else delete auths[server];
  }
  if (Object.keys(auths).length > 0 || original.auths) result.auths = auths;
  else delete result.auths;
  return result;
}

/**
 * Reads a config.json strictly: an empty file is an empty config, as the docker CLI takes it, and
 * anything else must be a JSON object. Throws an error that names the file.
 */
export async function readConfigFile(file: string): Promise<DockerConfig> {
  const text = await readFile(file, 'utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file} is not valid JSON (${(error as Error).message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`${file} is not a JSON object`);
  }
  return parsed as DockerConfig;
}

/** Returns a copy with the keys of every object sorted, for a comparison by JSON text. */
function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (!value || typeof value !== 'object') return value;
  const entries = Object.entries(value).sort(([a], [b]) => a.localeCompare(b));
  return Object.fromEntries(entries.map(([key, child]) => [key, sortKeys(child)]));
}

/**
 * Writes the `docker-credential-<helperName>` wrapper that later `docker` commands run. It gives
 * the helper this job's GnuPG home and store without exporting GNUPGHOME to the whole job, which
 * would break steps that use the user's own gpg.
 */
export async function writeHelperWrapper(options: {
  binDir: string;
  helperName: string;
  helperPath: string;
  gnupgHome: string;
  storeDir: string;
  /**
   * Folders to put first on the helper's PATH, in this order: the `pass` shim, a `pass` wrapper
   * where pass is not installed, and Homebrew's GNU getopt on macOS.
   */
  toolDirs: string[];
}): Promise<string> {
  await mkdir(options.binDir, { recursive: true, mode: 0o700 });
  const path = join(options.binDir, `docker-credential-${options.helperName}`);
  const script = [
    '#!/bin/sh',
    "# Written by docker-pass-login: runs docker-credential-pass on this job's private GnuPG home",
    '# and password store. The post step deletes it with them.',
    // Every variable pass 1.7.4 reads, so that the user's own pass settings cannot apply.
    `unset ${PASS_VARIABLES.join(' ')}`,
    `GNUPGHOME=${shellQuote(options.gnupgHome)}`,
    `PASSWORD_STORE_DIR=${shellQuote(options.storeDir)}`,
    "PASSWORD_STORE_GPG_OPTS='--batch'",
    'export GNUPGHOME PASSWORD_STORE_DIR PASSWORD_STORE_GPG_OPTS',
    'unset GPG_AGENT_INFO',
    `PATH=${[...options.toolDirs.map(shellQuote), '"$PATH"'].join(':')}`,
    'export PATH',
    `helper=${shellQuote(options.helperPath)}`,
    '[ "$1" = get ] || exec "$helper" "$@"',
    // docker shows a helper's stderr but not its error on stdout, and then goes on without
    // credentials. The message explains a failed lookup when the agent with the passphrase is gone.
    '"$helper" get && exit 0',
    'status=$?',
    // gpg-connect-agent exits 0 even without an agent (GnuPG 2.2), so its output is checked.
    "if ! gpg-connect-agent --no-autostart 'GETINFO pid' /bye 2>/dev/null | grep -q '^D '; then",
    `  echo ${shellQuote(AGENT_GONE)} >&2`,
    'fi',
    'exit "$status"',
    '',
  ].join('\n');
  await writeFile(path, script, { mode: 0o700 });
  return path;
}

const AGENT_GONE =
  "docker-pass-login: the gpg-agent that holds the passphrase of this job's registry " +
  'credentials is not running, so they cannot be decrypted. Run the login step again.';

const PASS_VARIABLES = [
  'PASSWORD_STORE_DIR',
  'PASSWORD_STORE_KEY',
  'PASSWORD_STORE_GPG_OPTS',
  'PASSWORD_STORE_X_SELECTION',
  'PASSWORD_STORE_CLIP_TIME',
  'PASSWORD_STORE_UMASK',
  'PASSWORD_STORE_GENERATED_LENGTH',
  'PASSWORD_STORE_CHARACTER_SET',
  'PASSWORD_STORE_CHARACTER_SET_NO_SYMBOLS',
  'PASSWORD_STORE_ENABLE_EXTENSIONS',
  'PASSWORD_STORE_EXTENSIONS_DIR',
  'PASSWORD_STORE_SIGNING_KEY',
];

/** Removes the links that writeJobConfig created in a folder that stays after the job. */
export async function removeLinks(configDir: string, links: string[]): Promise<void> {
  for (const name of links) {
    const link = join(configDir, name);
    const stats = await lstat(link).catch(() => undefined);
    if (stats?.isSymbolicLink()) await unlink(link);
  }
}

/** Quotes a value for POSIX sh with single quotes. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
