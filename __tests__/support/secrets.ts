/** Helpers for checks that a secret does not leak into logs, files or process listings. */
import type { StepResult } from './runner.js';

/**
 * Returns the strings whose presence means that a password leaked: the password, its base64 and
 * the base64 of `user:password`, which is the `auth` value that `docker login` writes into a
 * plain config.json.
 */
export function leakForms(user: string, password: string): string[] {
  return [
    password,
    Buffer.from(password).toString('base64'),
    Buffer.from(`${user}:${password}`).toString('base64'),
  ];
}

/** Returns the values that a step registered with `::add-mask::`, in order. */
export function maskedValues(result: StepResult): string[] {
  return result.stdout
    .split('\n')
    .filter((line) => line.startsWith('::add-mask::'))
    .map((line) => line.slice('::add-mask::'.length));
}

/**
 * Returns the passphrase of the ephemeral key: the one masked value of 64 lower-case hex digits
 * (a random 256-bit value). Throws unless there is exactly one.
 */
export function passphraseOf(main: StepResult): string {
  const candidates = maskedValues(main).filter((value) => /^[0-9a-f]{64}$/.test(value));
  if (candidates.length !== 1) {
    throw new Error(`Expected one masked 64-hex passphrase, found ${candidates.length}.`);
  }
  return candidates[0];
}

/** Returns the text without its `::add-mask::` lines, which name secrets on purpose. */
export function withoutMaskCommands(text: string): string {
  return text
    .split('\n')
    .filter((line) => !line.startsWith('::add-mask::'))
    .join('\n');
}
