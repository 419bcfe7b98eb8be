import { delimiter } from 'node:path';
import * as core from './actions-core.js';
import { runTool, ToolError } from './exec.js';
import type { Login } from './inputs.js';
import { DOCKER_HUB_SERVER } from './registry.js';
import { scrub, stripTrailingNewline } from './secrets.js';

export interface DockerContext {
  configDir: string;
  binDir: string;
}

/** Environment for the docker CLI: the job's config folder, with the helper wrapper on PATH. */
export function dockerEnv(context: DockerContext): NodeJS.ProcessEnv {
  return {
    ...process.env,
    DOCKER_CONFIG: context.configDir,
    PATH: `${context.binDir}${delimiter}${process.env.PATH ?? ''}`,
  };
}

/** Maximum wait before one retry, however many retries came before it. */
const MAX_RETRY_DELAY_MS = 600_000;

/** Returns the wait before retry number `attempt + 1`: the delay doubled per earlier retry. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.delayMs * 2 ** attempt, MAX_RETRY_DELAY_MS);
}

/** How often and how long to retry a login that failed for a reason that may pass. */
export interface RetryPolicy {
  retries: number;
  /** Delay before the first retry, in ms; it doubles with each further retry. */
  delayMs: number;
}

export type LoginFailure = 'rejected' | 'unreachable' | 'server error' | 'other';

const REJECTED =
  /unauthorized|authentication required|incorrect username or password|denied|\b40[13]\b/i;
const SERVER_ERROR = /\b(?:5\d\d|429)\b|too many requests|service unavailable|bad gateway/i;
const UNREACHABLE =
  /connection refused|no such host|i\/o timeout|timed out|timeout|no route to host|network is unreachable|connection reset|deadline exceeded|\beof\b|tls: |x509: /i;

/**
 * Classifies a failed `docker login` by its last line, which carries the final error. Earlier
 * lines can be notes about endpoints it tried first, such as plain HTTP on a loopback registry.
 */
export function classifyLoginFailure(output: string): LoginFailure {
  const last = finalLine(output);
  if (REJECTED.test(last)) return 'rejected';
  if (SERVER_ERROR.test(last)) return 'server error';
  if (UNREACHABLE.test(last)) return 'unreachable';
  return 'other';
}

function finalLine(output: string): string {
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  return (lines[lines.length - 1] ?? '').trim();
}

/**
 * Runs `docker login --password-stdin` with the password on stdin. A registry that cannot be
 * reached or responds with a server error is retried with exponential backoff; rejected
 * credentials are not. Throws an error that names the registry and the user and says why.
 */
export async function dockerLogin(
  login: Login,
  context: DockerContext,
  policy: RetryPolicy,
): Promise<void> {
  const server = login.registry.server;
  const args = ['login', '--username', login.username, '--password-stdin'];
  // Without a server argument the docker CLI logs in to Docker Hub under its own key.
  if (server !== DOCKER_HUB_SERVER) args.push(server);
  for (let attempt = 0; ; attempt++) {
    let failure: { kind: LoginFailure; detail: string };
    try {
      await runTool('docker', args, {
        purpose: `Logging in to ${server}`,
        input: login.password,
        env: dockerEnv(context),
        timeoutMs: 120_000,
      });
      return;
    } catch (error) {
      if (!(error instanceof ToolError) || !error.result) throw error;
      const output = error.result.stderr.trim() || error.result.stdout;
      const kind = error.timedOut ? 'unreachable' : classifyLoginFailure(output);
      // The last line is the final error; earlier ones note endpoints that docker tried first.
      failure = { kind, detail: error.timedOut ? error.message : scrub(finalLine(output)) };
    }
    const transient = failure.kind === 'unreachable' || failure.kind === 'server error';
    if (!transient || attempt >= policy.retries) throw loginError(failure, login, attempt + 1);
    const delayMs = backoffMs(policy, attempt);
    core.info(
      `Login to ${server} failed (${failure.kind}), attempt ${attempt + 1} of ` +
        `${policy.retries + 1}; retrying in ${delayMs / 1000} s.`,
    );
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

function loginError(
  failure: { kind: LoginFailure; detail: string },
  login: Login,
  attempts: number,
): Error {
  const server = login.registry.server;
  const tries = attempts > 1 ? ` after ${attempts} attempts` : '';
  switch (failure.kind) {
    case 'rejected': {
      const spaces =
        login.password.trim() !== stripTrailingNewline(login.password)
          ? ' The password starts or ends with white space, which docker login 28 removes.'
          : '';
      return new Error(
        `Registry ${server} rejected the credentials of user '${login.username}'. Check the ` +
          `username and password inputs and the token's scopes.${spaces} docker login: ` +
          failure.detail,
      );
    }
    case 'unreachable':
      return new Error(
        `Registry ${server} is not reachable from this runner${tries}. Check the registry ` +
          `address and the network. docker login: ${failure.detail}`,
      );
    case 'server error':
      return new Error(
        `Registry ${server} responded with a server error${tries}; try again later. ` +
          `docker login: ${failure.detail}`,
      );
    default:
      return new Error(
        `docker login to ${server} as '${login.username}' failed: ${failure.detail}`,
      );
  }
}

/**
 * Reads the credential back through the job's helper and throws unless it is the one just
 * stored. The docker CLI ignores helper errors when it looks credentials up, so a broken helper
 * would otherwise surface only later, as an anonymous pull or push that the registry denies.
 */
export async function verifyStoredCredential(login: Login, context: DockerContext, helper: string) {
  const server = login.registry.server;
  const result = await runTool(helper, ['get'], {
    purpose: `Reading the stored credential of ${server} back through the helper`,
    input: server,
    env: dockerEnv(context),
    secretOutput: true,
    allowFailure: true,
    timeoutMs: 30_000,
  });
  const problem = credentialMismatch(result.exitCode, result.stdout, login);
  if (problem) {
    throw new Error(
      `The credential helper did not return the credential just stored for ${server}: ${problem}. ` +
        'Later docker commands would fall back to anonymous access, so the login is stopped here.',
    );
  }
}

/**
 * Returns the forms in which `docker login --password-stdin` stores a password: CLI 20.10 drops
 * one trailing newline, CLI 28 drops all white space around it.
 */
function storedForms(password: string): string[] {
  return [stripTrailingNewline(password), password.trim()];
}

/** The user name under which docker stores an identity (refresh) token instead of a password. */
const IDENTITY_TOKEN_USER = '<token>';

/** Describes how the helper's `get` output differs from the login, without any secret. */
export function credentialMismatch(exitCode: number, stdout: string, login: Login) {
  if (exitCode !== 0) return `the helper exited with code ${exitCode}`;
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout) as typeof parsed;
  } catch {
    return 'the helper output is not JSON';
  }
  // A registry whose token server returns a refresh token (docker login requests one with
  // offline_token=true) makes docker store that token, under the user name `<token>`, in place
  // of the password.
  if (parsed.Username === IDENTITY_TOKEN_USER && login.username !== IDENTITY_TOKEN_USER) {
    return typeof parsed.Secret === 'string' && parsed.Secret !== ''
      ? undefined
      : 'it returned an empty identity token';
  }
  if (parsed.Username !== login.username) return 'it returned another user name';
  if (!storedForms(login.password).includes(parsed.Secret as string)) {
    return 'it returned another secret';
  }
  return undefined;
}

/**
 * Erases what the helper has stored for `server`. docker-credential-pass keeps one file per user
 * and `get` returns the first user name in lexical order, so a login as another user must erase
 * the older entry for the new one to be returned.
 */
export async function eraseCredential(server: string, context: DockerContext, helper: string) {
  await runTool(helper, ['erase'], {
    purpose: `Erasing the stored credential of ${server}`,
    input: server,
    env: dockerEnv(context),
    allowFailure: true,
    timeoutMs: 30_000,
  });
}

/**
 * Stores the credential through the job's helper, as `docker login` would, for a login that was
 * verified against the registry API because no Docker daemon or CLI was there to do it.
 */
export async function storeCredential(login: Login, context: DockerContext, helper: string) {
  const server = login.registry.server;
  const payload = JSON.stringify({
    ServerURL: server,
    Username: login.username,
    Secret: stripTrailingNewline(login.password),
  });
  await runTool(helper, ['store'], {
    purpose: `Storing the credential of ${server} through the helper`,
    input: payload,
    env: dockerEnv(context),
    secretOutput: true,
    timeoutMs: 30_000,
  });
}

/** Returns true when `docker login` failed only because no Docker daemon responded. */
export function isDaemonUnavailable(error: unknown): boolean {
  return error instanceof Error && /Cannot connect to the Docker daemon/i.test(error.message);
}
