import { isIP } from 'node:net';
import * as core from './actions-core.js';
import type { Login } from './inputs.js';
import { backoffMs, type LoginFailure, type RetryPolicy } from './login.js';
import { DOCKER_HUB_SERVER } from './registry.js';
import { stripTrailingNewline } from './secrets.js';

/** Host of the Docker Hub registry API. Its credentials are stored under DOCKER_HUB_SERVER. */
const DOCKER_HUB_API = 'registry-1.docker.io';
const REQUEST_TIMEOUT_MS = 30_000;

class RegistryError extends Error {
  constructor(
    message: string,
    readonly kind: LoginFailure,
  ) {
    super(message);
  }
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses the first challenge of a `WWW-Authenticate` header, as registries send it. */
export function parseChallenge(header: string): Challenge | undefined {
  const match = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!match) return undefined;
  const params: Record<string, string> = {};
  const pattern = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?/g;
  for (const param of match[2].matchAll(pattern)) {
    params[param[1].toLowerCase()] =
      param[2] !== undefined ? param[2].replace(/\\(.)/g, '$1') : param[3];
  }
  return { scheme: match[1].toLowerCase(), params };
}

/**
 * Returns true for registries the docker daemon reaches over plain HTTP by default: those on
 * the loopback network (127.0.0.0/8, ::1, localhost).
 */
export function isLoopbackRegistry(server: string): boolean {
  const host = server.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Checks the credentials against the registry's API without a Docker daemon: `GET /v2/`, then
 * Basic authentication or a Bearer token from the realm that the `WWW-Authenticate` header
 * names. Retries unreachable registries and server errors like `docker login` does here.
 */
export async function verifyWithRegistry(login: Login, policy: RetryPolicy): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await verifyOnce(login);
      return;
    } catch (error) {
      if (!(error instanceof RegistryError)) throw error;
      const transient = error.kind === 'unreachable' || error.kind === 'server error';
      if (!transient || attempt >= policy.retries) throw error;
      const delayMs = backoffMs(policy, attempt);
      core.info(`${error.message} Attempt ${attempt + 1} of ${policy.retries + 1}; retrying.`);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

async function verifyOnce(login: Login): Promise<void> {
  const server = login.registry.server;
  const host = server === DOCKER_HUB_SERVER ? DOCKER_HUB_API : server;
  const password = stripTrailingNewline(login.password);
  const basic = `Basic ${Buffer.from(`${login.username}:${password}`).toString('base64')}`;

  const { base, probe } = await probeRegistry(host, server);
  if (probe.status === 200) {
    core.info(`Registry ${server} does not ask for credentials; storing them unverified.`);
    return;
  }
  expectStatus(probe, 401, server, login);
  const challenge = parseChallenge(probe.headers.get('www-authenticate') ?? '');
  if (challenge?.scheme === 'basic') {
    const response = await request(`${base}/v2/`, { authorization: basic }, server);
    expectStatus(response, 200, server, login);
    return;
  }
  if (challenge?.scheme === 'bearer' && challenge.params.realm) {
    const url = new URL(challenge.params.realm);
    if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
    if (challenge.params.scope) url.searchParams.set('scope', challenge.params.scope);
    url.searchParams.set('account', login.username);
    const response = await request(url.toString(), { authorization: basic }, server);
    expectStatus(response, 200, server, login);
    const body = (await response.json().catch(() => ({}))) as {
      token?: string;
      access_token?: string;
    };
    const token = body.token ?? body.access_token;
    if (!token) {
      throw new RegistryError(`The token server of ${server} returned no token.`, 'other');
    }
    core.setSecret(token);
    return;
  }
  throw new RegistryError(
    `Registry ${server} asks for an authentication scheme this action does not support: ` +
      `'${challenge?.scheme ?? 'none'}'.`,
    'other',
  );
}

/**
 * Sends `GET /v2/` over HTTPS, or over plain HTTP to a loopback registry that does not speak
 * TLS, which is what the docker daemon allows by default. Returns the base URL that responded.
 */
async function probeRegistry(host: string, server: string) {
  try {
    return { base: `https://${host}`, probe: await request(`https://${host}/v2/`, {}, server) };
  } catch (error) {
    if (!isLoopbackRegistry(host)) throw error;
    return { base: `http://${host}`, probe: await request(`http://${host}/v2/`, {}, server) };
  }
}

async function request(url: string, headers: Record<string, string>, server: string) {
  try {
    return await fetch(url, {
      headers,
      redirect: 'follow',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new RegistryError(
      `Registry ${server} is not reachable from this runner at ${new URL(url).origin}: ` +
        `${reason}. Check the registry address and the network.`,
      'unreachable',
    );
  }
}

function expectStatus(response: Response, expected: number, server: string, login: Login): void {
  if (response.status === expected) return;
  const status = `HTTP ${response.status} from ${new URL(response.url).origin}`;
  if (response.status === 401 || response.status === 403) {
    throw new RegistryError(
      `Registry ${server} rejected the credentials of user '${login.username}' (${status}). ` +
        "Check the username and password inputs and the token's scopes.",
      'rejected',
    );
  }
  if (response.status >= 500 || response.status === 429) {
    throw new RegistryError(
      `Registry ${server} responded with a server error (${status}); try again later.`,
      'server error',
    );
  }
  throw new RegistryError(`Registry ${server} responded unexpectedly: ${status}.`, 'other');
}
