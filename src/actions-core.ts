/**
 * The parts of @actions/core that this action uses, built on that package's own modules for
 * workflow commands, file commands and the job summary. The package's entry point also loads
 * its OIDC client, whose HTTP stack (undici) added about 75 ms to the start of every step here
 * (bench/profile.ts) and is never used by this action.
 */
import { EOL } from 'node:os';
import { delimiter } from 'node:path';
import { issue, issueCommand } from '../node_modules/@actions/core/lib/command.js';
import {
  issueFileCommand,
  prepareKeyValueMessage,
} from '../node_modules/@actions/core/lib/file-command.js';

export { summary } from '../node_modules/@actions/core/lib/summary.js';

/** Returns an input as the runner passes it in `INPUT_<NAME>`, trimmed unless asked not to. */
export function getInput(name: string, options?: { trimWhitespace?: boolean }): string {
  const value = process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '';
  return options?.trimWhitespace === false ? value : value.trim();
}

export function setSecret(secret: string): void {
  issueCommand('add-mask', {}, secret);
}

export function setOutput(name: string, value: string): void {
  if (process.env.GITHUB_OUTPUT) {
    issueFileCommand('OUTPUT', prepareKeyValueMessage(name, value));
  } else {
    // As @actions/core does: a command must start a line of its own.
    process.stdout.write(EOL);
    issueCommand('set-output', { name }, value);
  }
}

export function exportVariable(name: string, value: string): void {
  process.env[name] = value;
  if (process.env.GITHUB_ENV) {
    issueFileCommand('ENV', prepareKeyValueMessage(name, value));
  } else {
    issueCommand('set-env', { name }, value);
  }
}

export function addPath(folder: string): void {
  if (process.env.GITHUB_PATH) issueFileCommand('PATH', folder);
  else issueCommand('add-path', {}, folder);
  process.env.PATH = `${folder}${delimiter}${process.env.PATH ?? ''}`;
}

export function saveState(name: string, value: string): void {
  if (process.env.GITHUB_STATE) {
    issueFileCommand('STATE', prepareKeyValueMessage(name, value));
  } else {
    issueCommand('save-state', { name }, value);
  }
}

export function getState(name: string): string {
  return process.env[`STATE_${name}`] ?? '';
}

export function info(message: string): void {
  process.stdout.write(`${message}\n`);
}

export function debug(message: string): void {
  issueCommand('debug', {}, message);
}

export function warning(message: string): void {
  issueCommand('warning', {}, message);
}

export function error(message: string): void {
  issueCommand('error', {}, message);
}

/** Reports the error and makes the step fail when the process exits. */
export function setFailed(message: string): void {
  process.exitCode = 1;
  error(message);
}

/** Runs `body` inside a collapsible group of the job log. */
export async function group<T>(name: string, body: () => Promise<T>): Promise<T> {
  issue('group', name);
  try {
    return await body();
  } finally {
    issue('endgroup');
  }
}
