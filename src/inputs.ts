import { homedir } from 'node:os';
import { resolve } from 'node:path';
import * as core from './actions-core.js';
import { parseRegistry, type Registry } from './registry.js';
import { parseEntryList } from './registry-auth.js';
import type { RetryPolicy } from './login.js';
import { maskBasicAuth, maskSecret } from './secrets.js';

export interface Login {
  registry: Registry;
  username: string;
  /**
   * The password exactly as given. `docker login --password-stdin` drops one trailing newline
   * (CLI 20.10) or all white space around it (CLI 28).
   */
  password: string;
}

export interface Inputs {
  logins: Login[];
  logout: boolean;
  helperVersion: string;
  helperMirror: string;
  passMirror: string;
  /** Absolute folder for the job's config.json, or undefined for a new folder under RUNNER_TEMP. */
  configDir?: string;
  retry: RetryPolicy;
}

const FORK_HINT =
  'Secrets are empty in workflows triggered by pull requests from forks; check that the secret ' +
  'exists and is available to this workflow.';

/**
 * Reads and validates the action's inputs. The password is masked before anything else runs.
 * Throws an error that names the input and states what to do.
 */
export function readInputs(): Inputs {
  // Masked first: nothing below may print a password that is not masked yet.
  const password = core.getInput('password', { trimWhitespace: false });
  if (password.length > 0) maskSecret(password);
  const username = core.getInput('username', { trimWhitespace: false });
  const registry = core.getInput('registry');
  const registryAuth = core.getInput('registry-auth', { trimWhitespace: false });

  let logins: Login[];
  if (registryAuth.trim() !== '') {
    if (username !== '' || password !== '' || !['', 'docker.io'].includes(registry)) {
      throw new Error(
        "Input 'registry-auth' cannot be combined with 'registry', 'username' or 'password'. " +
          "Put every registry into 'registry-auth', or use the three single inputs.",
      );
    }
    logins = readRegistryAuth(registryAuth);
  } else {
    logins = [
      {
        registry: parseRegistry(registry),
        username: validateUsername(username, "Input 'username'"),
        password: validatePassword(password, "Input 'password'"),
      },
    ];
  }
  for (const login of logins) maskBasicAuth(login.username, login.password);
  warnAboutRepeats(logins);

  return {
    logins,
    logout: readBoolean('logout'),
    helperVersion: validateHelperVersion(core.getInput('helper-version')),
    helperMirror: validateMirror(core.getInput('helper-mirror'), 'helper-mirror'),
    passMirror: validateMirror(core.getInput('pass-mirror'), 'pass-mirror'),
    configDir: resolveFolder(core.getInput('config-dir')),
    retry: {
      retries: readRetries(core.getInput('retries')),
      delayMs: parseDuration(core.getInput('retry-delay'), 'retry-delay'),
    },
  };
}

/**
 * Rejects user names that docker-credential-pass cannot store. It keeps each secret at
 * `<store>/docker-credential-helpers/<server>/<username>.gpg`, so a `/` makes a subfolder and
 * `get` then returns a wrong secret with exit code 0. Returns the name without surrounding white
 * space.
 */
export function validateUsername(value: string, label: string): string {
  if (value.trim().length === 0) {
    const what = value.length === 0 ? 'is empty' : 'contains only white space';
    throw new Error(`${label} ${what}. ${FORK_HINT}`);
  }
  const name = value.trim();
  if (name.includes('/')) {
    throw new Error(
      `${label} contains '/', which docker-credential-pass cannot store: it keeps ` +
        'each secret in a file named after the user. Use the user name without the slash.',
    );
  }
  if (name.includes(':')) {
    throw new Error(
      `${label} contains ':', which separates the user name from the password in HTTP Basic ` +
        'authentication, so no registry can accept it.',
    );
  }
  if ([...name].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)) {
    throw new Error(`${label} contains a line break or another control character.`);
  }
  if (name === '.' || name === '..') {
    throw new Error(`${label} cannot be '${name}', which is a folder name.`);
  }
  return name;
}

/**
 * Maximum size in bytes of the password as a JSON string. docker-credential-pass reads its JSON
 * request with a Go bufio.Scanner, whose 64 KiB limit fails a longer request with "token too
 * long". 1 KiB is kept for the server URL, the user name and the JSON around them.
 */
const MAX_PASSWORD_JSON_BYTES = 63 * 1024;

export function validatePassword(value: string, label: string): string {
  if (value.trim().length === 0) {
    const what = value.length === 0 ? 'is empty' : 'contains only white space';
    throw new Error(`${label} ${what}. ${FORK_HINT}`);
  }
  const bytes = Buffer.byteLength(JSON.stringify(value));
  if (bytes > MAX_PASSWORD_JSON_BYTES) {
    throw new Error(
      `${label} is too long: ${bytes} bytes as a JSON string, and docker-credential-pass ` +
        `stores at most ${MAX_PASSWORD_JSON_BYTES}.`,
    );
  }
  return value;
}

/** Warns about registry-auth entries for a registry that an earlier entry already names. */
function warnAboutRepeats(logins: Login[]): void {
  const seen = new Map<string, number>();
  logins.forEach((login, index) => {
    const first = seen.get(login.registry.server);
    if (first === undefined) {
      seen.set(login.registry.server, index + 1);
    } else {
      core.warning(
        `registry-auth entries ${first} and ${index + 1} both name ${login.registry.server}; ` +
          'the later one replaces the earlier login.',
      );
    }
  });
}

const ENTRY_KEYS = ['registry', 'username', 'password'];

/**
 * Reads the `registry-auth` list. Each password is masked as soon as it is parsed, before any
 * entry is validated, so that no later error can print one unmasked.
 */
function readRegistryAuth(text: string): Login[] {
  const entries = parseEntryList(text, 'registry-auth');
  for (const entry of entries) if (entry.password) maskSecret(entry.password);
  if (entries.length === 0) throw new Error("Input 'registry-auth' contains no entries.");
  return entries.map((entry, index) => {
    const label = `Input 'registry-auth', entry ${index + 1},`;
    const unknown = Object.keys(entry).find((key) => !ENTRY_KEYS.includes(key));
    if (unknown !== undefined) {
      throw new Error(
        `${label} has the unknown key '${unknown}'; the keys are ${ENTRY_KEYS.join(', ')}.`,
      );
    }
    return {
      registry: parseRegistry(entry.registry ?? ''),
      username: validateUsername(entry.username ?? '', `${label} 'username'`),
      password: validatePassword(entry.password ?? '', `${label} 'password'`),
    };
  });
}

/** Accepts `vX.Y.Z` tags, with an optional pre-release suffix, from v0.7.0 on. */
export function validateHelperVersion(value: string): string {
  const match = /^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$/.exec(value);
  if (!match) {
    throw new Error(
      `Input 'helper-version' is '${value}', which is not a release tag of ` +
        `docker/docker-credential-helpers. Use a tag such as v0.9.8.`,
    );
  }
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major === 0 && minor < 7) {
    throw new Error(
      `Input 'helper-version' is '${value}': releases before v0.7.0 publish no plain ` +
        `docker-credential-pass binaries or checksums. Use v0.7.0 or newer, such as v0.9.8.`,
    );
  }
  if (value === 'v0.9.0' || value === 'v0.9.1') {
    throw new Error(
      `Input 'helper-version' is '${value}', a release that was withdrawn. Use v0.9.8 or newer.`,
    );
  }
  return value;
}

/** Accepts an http(s) base URL and returns it, as parsed, without a trailing slash. */
export function validateMirror(value: string, inputName: string): string {
  if ([...value].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)) {
    throw new Error(`Input '${inputName}' contains a line break or another control character.`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`Input '${inputName}' is '${value}', which is not a URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new Error(`Input '${inputName}' must be an http or https URL, not '${value}'.`);
  }
  if (url.username || url.password) {
    throw new Error(`Input '${inputName}' must not contain a user name or password.`);
  }
  if (url.search || url.hash || value.includes('?') || value.includes('#')) {
    throw new Error(
      `Input '${inputName}' must not contain a query or a fragment ('?' or '#'): the file ` +
        'paths are appended to it.',
    );
  }
  return url.href.replace(/\/+$/, '');
}

function readBoolean(name: string): boolean {
  const value = core.getInput(name).toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(`Input '${name}' is '${value}'; use 'true' or 'false'.`);
}

/** Resolves `~/` to the home folder and a relative path against the working folder. */
function resolveFolder(value: string): string | undefined {
  if (value === '') return undefined;
  const expanded = value === '~' || value.startsWith('~/') ? homedir() + value.slice(1) : value;
  return resolve(expanded);
}

function readRetries(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 10) {
    throw new Error(`Input 'retries' is '${value}'; use a whole number from 0 to 10.`);
  }
  return Number(value);
}

/**
 * Parses a duration such as `5s`, `500ms` or `1m`; a bare number is seconds. Returns
 * milliseconds.
 */
export function parseDuration(value: string, inputName: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m)?$/.exec(value.trim());
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
  const ms = match ? Number(match[1]) * units[match[2] ?? 's'] : NaN;
  if (!Number.isFinite(ms) || ms > 600_000) {
    throw new Error(
      `Input '${inputName}' is '${value}'; use a duration of at most 10 minutes such as ` +
        "'5s', '500ms' or '1m'.",
    );
  }
  return ms;
}
