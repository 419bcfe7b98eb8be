import * as core from './actions-core.js';

// Every string registered here is masked in the job log by the runner and replaced by `***` in
// any text this action builds from a tool's output.
const registered = new Set<string>();

/**
 * Masks a secret and each form of it that a tool could print. The forms are the value itself,
 * the value without the trailing newline or the surrounding white space that `docker login
 * --password-stdin` drops, each line of a multi-line value (the runner masks line by line), its
 * JSON-escaped form (credential helpers speak JSON) and its base64.
 */
export function maskSecret(value: string): void {
  const forms = [
    value,
    stripTrailingNewline(value),
    value.trim(),
    JSON.stringify(value).slice(1, -1),
  ];
  for (const line of value.split(/\r?\n/)) {
    // Lines such as a lone brace carry no secret, and masking them would blank out the log.
    if (line.trim().length >= 4) forms.push(line, line.trim());
  }
  forms.push(Buffer.from(value).toString('base64'));
  forms.forEach(register);
}

/** Masks the base64 of `user:password`, the form Docker writes as `auth` in config.json. */
export function maskBasicAuth(username: string, password: string): void {
  register(Buffer.from(`${username}:${password}`).toString('base64'));
  register(Buffer.from(`${username}:${stripTrailingNewline(password)}`).toString('base64'));
}

/** Replaces every registered secret in `text` with `***`, longest first. */
export function scrub(text: string): string {
  const byLength = [...registered].sort((a, b) => b.length - a.length);
  let result = text;
  for (const secret of byLength) result = result.split(secret).join('***');
  return result;
}

/**
 * Returns the password as `docker login --password-stdin` stores it: one trailing LF, and then
 * one trailing CR, removed (docker CLI 28, cli/command/registry/login.go). Inner newlines stay.
 */
export function stripTrailingNewline(value: string): string {
  return value.replace(/\n$/, '').replace(/\r$/, '');
}

function register(form: string): void {
  if (form.length === 0 || registered.has(form)) return;
  registered.add(form);
  core.setSecret(form);
}
