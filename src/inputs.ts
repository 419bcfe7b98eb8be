import * as core from '@actions/core';
import { parseRegistry, type Registry } from './registry.js';
import { maskBasicAuth, maskSecret } from './secrets.js';

export interface Login {
  registry: Registry;
  username: string;
  /** The password exactly as given; `docker login --password-stdin` drops one trailing newline. */
  password: string;
}

export interface Inputs {
  logins: Login[];
  logout: boolean;
  helperVersion: string;
  helperMirror: string;
}

const FORK_HINT =
  'Secrets are empty in workflows triggered by pull requests from forks; check that the secret ' +
  'exists and is available to this workflow.';

/**
 * Reads and validates the action's inputs. The password is masked before anything else runs.
 * Throws an error that names the input and says what to do.
 */
export function readInputs(): Inputs {
  // Masked first: nothing below may print a password that is not masked yet.
  const password = core.getInput('password', { trimWhitespace: false });
  if (password.length > 0) maskSecret(password);
  const username = core.getInput('username');

  const login: Login = {
    registry: parseRegistry(core.getInput('registry')),
    username: validateUsername(username, 'username'),
    password: validatePassword(password, 'password'),
  };
  maskBasicAuth(login.username, login.password);

  return {
    logins: [login],
    logout: readBoolean('logout'),
    helperVersion: validateHelperVersion(core.getInput('helper-version')),
    helperMirror: validateMirror(core.getInput('helper-mirror'), 'helper-mirror'),
  };
}

/**
 * Rejects user names that docker-credential-pass cannot store. It keeps each secret at
 * `<store>/docker-credential-helpers/<server>/<username>.gpg`, so a `/` makes a subfolder and
 * `get` then returns a wrong secret with exit code 0.
 */
export function validateUsername(value: string, inputName: string): string {
  if (value.trim().length === 0) {
    const what = value.length === 0 ? 'is empty' : 'contains only white space';
    throw new Error(`Input '${inputName}' ${what}. ${FORK_HINT}`);
  }
  if (value.includes('/')) {
    throw new Error(
      `Input '${inputName}' contains '/', which docker-credential-pass cannot store: it keeps ` +
        'each secret in a file named after the user. Use the user name without the slash.',
    );
  }
  if ([...value].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)) {
    throw new Error(`Input '${inputName}' contains a line break or another control character.`);
  }
  if (value === '.' || value === '..') {
    throw new Error(`Input '${inputName}' cannot be '${value}', which is a folder name.`);
  }
  return value;
}

export function validatePassword(value: string, inputName: string): string {
  if (value.trim().length === 0) {
    const what = value.length === 0 ? 'is empty' : 'contains only white space';
    throw new Error(`Input '${inputName}' ${what}. ${FORK_HINT}`);
  }
  return value;
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

/** Accepts an http(s) base URL and returns it without a trailing slash. */
export function validateMirror(value: string, inputName: string): string {
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
  return value.replace(/\/+$/, '');
}

function readBoolean(name: string): boolean {
  const value = core.getInput(name).toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new Error(`Input '${name}' is '${value}'; use 'true' or 'false'.`);
}
