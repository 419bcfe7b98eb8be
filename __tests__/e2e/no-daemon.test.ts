/**
 * End-to-end tests of logins where no Docker daemon is reachable, and where the job has no docker
 * CLI at all, against a registry with Basic authentication (htpasswd) and one with token
 * authentication. The action must check the credentials against the registry and store them
 * through the helper, so that a daemon that a later step starts can push with them.
 *
 * The token registry is a distribution registry with `auth: token`, and the token server is
 * `startTokenServer`. Distribution 2.8.2 accepted its ES256 tokens in two forms: with the signing
 * certificate in an `x5c` header, and with a libtrust `kid` of a key whose certificate is in the
 * rootcertbundle. The first describe block checks both against the registry directly.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  errorAnnotations,
  expectCleanedUp,
  expectLoggedIn,
  expectNoLeakInFiles,
  expectNoLeakInOutput,
  expectStoredCredential,
  isAuthError,
  leakForms,
} from '../support/checks.js';
import { describeResult, findExecutable } from '../support/exec.js';
import { Job } from '../support/runner.js';
import {
  canRunDockerd,
  makeImage,
  startDockerd,
  startMirror,
  startRegistry,
  type Dockerd,
  type Mirror,
  type Registry,
} from '../support/services.js';
import { makeSelfSigned, type KeyPair } from '../support/tls.js';
import { startTokenServer, type KeyReference, type TokenServer } from '../support/token-server.js';
import { linkExecutablesExcept } from '../support/tool-path.js';

const TAG = 'v0.8.0-local';
const suffix = randomBytes(8).toString('hex');
const USER = 'ci-user';
const BASIC_PASSWORD = `basic-${suffix}`;
const TOKEN_PASSWORD = `token-${suffix}`;
const SERVICE = 'harness-registry';
const ISSUER = 'harness-token-issuer';

type Scheme = 'basic' | 'token';
// NOTE: with 'no daemon' the docker CLI (20.10 and 28 alike) logs in on the client side, so the
// action's registry API fallback after a "Cannot connect to the Docker daemon" error is not
// reached here. The API path runs only in the 'no docker CLI' cases.
type Client = 'no daemon' | 'no docker CLI';

describe.skipIf(!canRunDockerd())('logins without a daemon', { timeout: 300_000 }, () => {
  let root: string;
  let signer: KeyPair;
  let tokenServer: TokenServer;
  let basicRegistry: Registry;
  let tokenRegistry: Registry;
  let mirror: Mirror;
  /** A PATH with every tool of the test process's PATH except docker. */
  let pathWithoutDocker: string;
  /** Started after the first main step that needs it, as a later step of a job would. */
  let laterDockerd: Dockerd | undefined;
  const jobs: Job[] = [];
  const dockerCli = findExecutable('docker', process.env.PATH) ?? 'docker';

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dpl-nod-'));
    signer = await makeSelfSigned(join(root, 'signer'), 'signer', {
      commonName: 'harness token signer',
    });
    tokenServer = await startTokenServer({
      users: { [USER]: TOKEN_PASSWORD },
      signer,
      service: SERVICE,
      issuer: ISSUER,
    });
    [basicRegistry, tokenRegistry, mirror, pathWithoutDocker] = await Promise.all([
      startRegistry(join(root, 'basic'), { [USER]: BASIC_PASSWORD }),
      startRegistry(
        join(root, 'token'),
        {},
        {
          token: {
            realm: tokenServer.realm,
            service: SERVICE,
            issuer: ISSUER,
            rootCertBundle: signer.certFile,
          },
        },
      ),
      startMirror({ tag: TAG }),
      linkExecutablesExcept(join(root, 'path'), ['docker']),
    ]);
  });

  afterEach(async () => {
    tokenServer.keyReference = 'x5c';
    tokenServer.refreshTokens = false;
    for (const job of jobs.splice(0)) await job.dispose();
  });

  afterAll(async () => {
    await laterDockerd?.stop();
    await mirror?.stop();
    await tokenRegistry?.stop();
    await basicRegistry?.stop();
    await tokenServer?.stop();
    await rm(root, { recursive: true, force: true });
  });

  describe('token registry on its own', () => {
    async function fetchToken(server: TokenServer, password: string): Promise<Response> {
      const url = `${server.realm}?service=${SERVICE}&account=${USER}`;
      const basic = Buffer.from(`${USER}:${password}`).toString('base64');
      return fetch(url, { headers: { Authorization: `Basic ${basic}` } });
    }

    async function baseStatus(token: string): Promise<number> {
      const response = await fetch(`http://${tokenRegistry.address}/v2/`, {
        headers: { Authorization: `Bearer ${token}` },
      });
      return response.status;
    }

    test('challenge names realm and service', async () => {
      const response = await fetch(`http://${tokenRegistry.address}/v2/`);
      expect(response.status).toBe(401);
      const challenge = response.headers.get('www-authenticate') ?? '';
      expect(challenge).toContain(`Bearer realm="${tokenServer.realm}"`);
      expect(challenge).toContain(`service="${SERVICE}"`);
    });

    test.each(['x5c', 'kid'] as KeyReference[])('registry accepts %s tokens', async (reference) => {
      tokenServer.keyReference = reference;
      const response = await fetchToken(tokenServer, TOKEN_PASSWORD);
      expect(response.status).toBe(200);
      const { token } = (await response.json()) as { token: string };
      expect(await baseStatus(token)).toBe(200);
    });

    test('registry rejects another signer', async () => {
      const other = await makeSelfSigned(join(root, 'other'), 'other', {
        commonName: 'harness other signer',
      });
      const otherServer = await startTokenServer({
        users: { [USER]: TOKEN_PASSWORD },
        signer: other,
        service: SERVICE,
        issuer: ISSUER,
      });
      try {
        for (const reference of ['x5c', 'kid'] as KeyReference[]) {
          otherServer.keyReference = reference;
          const response = await fetchToken(otherServer, TOKEN_PASSWORD);
          const { token } = (await response.json()) as { token: string };
          expect(await baseStatus(token), `token with ${reference}`).toBe(401);
        }
      } finally {
        await otherServer.stop();
      }
    });

    test('token server rejects wrong password', async () => {
      const response = await fetchToken(tokenServer, `wrong-${suffix}`);
      expect(response.status).toBe(401);
    });
  });

  async function newJob(client: Client): Promise<Job> {
    // Job.create points DOCKER_HOST at a socket that does not exist.
    const job = await Job.create(client === 'no docker CLI' ? { path: pathWithoutDocker } : {});
    jobs.push(job);
    return job;
  }

  function target(scheme: Scheme): { registry: Registry; password: string } {
    return scheme === 'basic'
      ? { registry: basicRegistry, password: BASIC_PASSWORD }
      : { registry: tokenRegistry, password: TOKEN_PASSWORD };
  }

  /** Pushes a new image through a daemon that the job's main step never reached. */
  async function pushLater(job: Job, ref: string) {
    laterDockerd ??= await startDockerd(join(root, 'later'));
    await makeImage(laterDockerd.host, ref, laterDockerd.env);
    return job.run(dockerCli, ['push', ref], { env: laterDockerd.env });
  }

  const cases: Array<[Scheme, Client]> = [
    ['basic', 'no daemon'],
    ['basic', 'no docker CLI'],
    ['token', 'no daemon'],
    ['token', 'no docker CLI'],
  ];

  test.each(cases)('%s login with %s', async (scheme, client) => {
    const job = await newJob(client);
    const { registry, password } = target(scheme);
    const secrets = leakForms(USER, password);
    const tokenRequestsBefore = tokenServer.requests.length;

    const main = await job.runAction('main', {
      registry: registry.address,
      username: USER,
      password,
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
    });
    const wrapper = await expectLoggedIn(job, main, [registry.address]);
    await expectStoredCredential(job, wrapper, registry.address, { user: USER, secret: password });
    if (scheme === 'token') {
      const granted = tokenServer.requests
        .slice(tokenRequestsBefore)
        .filter((request) => request.granted && request.user === USER);
      expect(granted.length, 'tokens issued to the user during main').toBeGreaterThan(0);
    }

    const repository = `${scheme}-${client.replace(/ /g, '-')}`.toLowerCase();
    const pushed = await pushLater(job, `${registry.address}/${repository}:1`);
    expect(pushed.exitCode, describeResult(pushed)).toBe(0);
    await expectNoLeakInFiles(job, secrets);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    expect(post.stdout).toContain(`Logging out of ${registry.address}: done`);
    const after = await pushLater(job, `${registry.address}/${repository}:2`);
    expect(after.exitCode, 'push after post').not.toBe(0);
    expect(isAuthError(after), describeResult(after)).toBe(true);
    await expectCleanedUp(job);
    expectNoLeakInOutput(job, secrets);
  });

  test.each(cases)('%s wrong password, %s', async (scheme, client) => {
    const job = await newJob(client);
    const { registry } = target(scheme);
    const wrongPassword = `wrong-${suffix}`;

    const main = await job.runAction('main', {
      registry: registry.address,
      username: USER,
      password: wrongPassword,
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
      retries: '1',
      'retry-delay': '100ms',
    });
    expect(main.exitCode, describeResult(main)).not.toBe(0);
    const errors = errorAnnotations(main);
    expect(errors).toContain(registry.address);
    expect(errors).toContain(USER);
    expect(errors).toMatch(/rejected/i);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    await expectCleanedUp(job);
    expectNoLeakInOutput(job, leakForms(USER, wrongPassword));
  });

  // A token server that follows `offline_token=true` returns a refresh token, and docker login
  // then stores it as an identity token under the user name `<token>` instead of the password.
  test.each(['no daemon', 'a daemon'])('refresh token login with %s', async (daemon) => {
    tokenServer.refreshTokens = true;
    laterDockerd ??= await startDockerd(join(root, 'later'));
    const env = daemon === 'a daemon' ? laterDockerd.env : {};
    const job = await Job.create({ env });
    jobs.push(job);

    const main = await job.runAction('main', {
      registry: tokenRegistry.address,
      username: USER,
      password: TOKEN_PASSWORD,
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
    });
    expect(main.exitCode, errorAnnotations(main) || describeResult(main)).toBe(0);
    const pushed = await pushLater(job, `${tokenRegistry.address}/refresh:1`);
    expect(pushed.exitCode, describeResult(pushed)).toBe(0);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    await expectCleanedUp(job);
    expectNoLeakInOutput(job, leakForms(USER, TOKEN_PASSWORD));
  });

  test('token login with kid header', async () => {
    tokenServer.keyReference = 'kid';
    const job = await newJob('no docker CLI');
    const main = await job.runAction('main', {
      registry: tokenRegistry.address,
      username: USER,
      password: TOKEN_PASSWORD,
      'helper-version': TAG,
      'helper-mirror': mirror.baseUrl,
    });
    await expectLoggedIn(job, main, [tokenRegistry.address]);
    const pushed = await pushLater(job, `${tokenRegistry.address}/kid:1`);
    expect(pushed.exitCode, describeResult(pushed)).toBe(0);

    const post = await job.runAction('post');
    expect(post.exitCode, describeResult(post)).toBe(0);
    await expectCleanedUp(job);
  });
});
