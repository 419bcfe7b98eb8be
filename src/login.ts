import { delimiter } from 'node:path';
import { runTool, toolMessage, ToolError } from './exec.js';
import type { Login } from './inputs.js';
import { DOCKER_HUB_SERVER } from './registry.js';
import { stripTrailingNewline } from './secrets.js';

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

const REJECTED =
  /unauthorized|authentication required|incorrect username or password|denied|\b40[13]\b/i;
const UNREACHABLE =
  /connection refused|no such host|i\/o timeout|timeout|no route to host|network is unreachable|connection reset|tls: |x509: |server gave HTTP response/i;

/**
 * Runs `docker login --password-stdin` with the password on stdin. Throws an error that names the
 * registry and the user and says whether the registry rejected the credentials or could not be
 * reached.
 */
export async function dockerLogin(login: Login, context: DockerContext): Promise<void> {
  const server = login.registry.server;
  const args = ['login', '--username', login.username, '--password-stdin'];
  // Without a server argument the docker CLI logs in to Docker Hub under its own key.
  if (server !== DOCKER_HUB_SERVER) args.push(server);
  try {
    await runTool('docker', args, {
      purpose: `Logging in to ${server}`,
      input: login.password,
      env: dockerEnv(context),
      timeoutMs: 120_000,
    });
  } catch (error) {
    throw explainLoginError(error, login);
  }
}

function explainLoginError(error: unknown, login: Login): Error {
  if (!(error instanceof ToolError) || !error.result) return error as Error;
  const server = login.registry.server;
  const detail = toolMessage(error.result);
  if (UNREACHABLE.test(detail)) {
    return new Error(
      `Registry ${server} is not reachable from this runner. Check the registry address and ` +
        `the network. docker login: ${detail}`,
    );
  }
  if (REJECTED.test(detail)) {
    return new Error(
      `Registry ${server} rejected the credentials of user '${login.username}'. Check the ` +
        `username and password inputs and the token's scopes. docker login: ${detail}`,
    );
  }
  return new Error(`docker login to ${server} as '${login.username}' failed: ${detail}`);
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

/** Describes how the helper's `get` output differs from the login, without any secret. */
export function credentialMismatch(exitCode: number, stdout: string, login: Login) {
  if (exitCode !== 0) return `the helper exited with code ${exitCode}`;
  let parsed: { Username?: unknown; Secret?: unknown };
  try {
    parsed = JSON.parse(stdout) as typeof parsed;
  } catch {
    return 'the helper output is not JSON';
  }
  if (parsed.Username !== login.username) return 'it returned another user name';
  if (parsed.Secret !== stripTrailingNewline(login.password)) return 'it returned another secret';
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
