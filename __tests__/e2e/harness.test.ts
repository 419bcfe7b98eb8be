/**
 * Checks the real services of the test harness on their own, without the action. The tests cover
 * the registry's htpasswd authentication, including passwords that htpasswd cannot take as typed,
 * a plain `docker login` and `docker push` through the test dockerd, the release mirror with its
 * fault injection, and the helpers that inspect files and processes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { describeResult, execute } from '../support/exec.js';
import { findInTree, findProcessesMentioning, walkTree } from '../support/inspect.js';
import {
  canRunDockerd,
  createDockerClient,
  makeImage,
  startDockerd,
  startMirror,
  startRegistry,
  type Dockerd,
  type Mirror,
  type Registry,
} from '../support/services.js';

const TAG = 'v0.8.0-local';

const suffix = randomBytes(6).toString('hex');
const USERS: Record<string, string> = {
  plain: `plain-${suffix}`,
  'multi-line': `{\n  "type": "service_account",\n  "id": "${suffix}"\n}`,
  'ends-in-cr': `ends-in-cr-${suffix}\r`,
  'ends-in-lf': `ends-in-lf-${suffix}\n`,
  symbols: `it's "q" $HOME \`id\` \\ : = % ä€ ${suffix}`,
  long: `${'x'.repeat(80)}-${suffix}-${'y'.repeat(300)}`,
  spaced: ` spaced-${suffix} `,
};

function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
}

async function registryStatus(registry: Registry, authorization?: string): Promise<number> {
  const response = await fetch(`http://${registry.address}/v2/`, {
    headers: authorization ? { Authorization: authorization } : {},
    signal: AbortSignal.timeout(10_000),
  });
  return response.status;
}

describe.skipIf(!canRunDockerd())('harness services', () => {
  let root: string;
  let dockerd: Dockerd;
  let registry: Registry;
  let mirror: Mirror;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dpl-h-'));
    [dockerd, registry, mirror] = await Promise.all([
      startDockerd(join(root, 'docker')),
      startRegistry(join(root, 'registry'), USERS),
      startMirror({ tag: TAG }),
    ]);
  });

  afterAll(async () => {
    await mirror?.stop();
    await registry?.stop();
    await dockerd?.stop();
    await rm(root, { recursive: true, force: true });
  });

  test('registry rejects requests without credentials', async () => {
    expect(await registryStatus(registry)).toBe(401);
  });

  test.each(Object.keys(USERS))('registry accepts the exact password of %s', async (user) => {
    expect(await registryStatus(registry, basicAuth(user, USERS[user]))).toBe(200);
  });

  test('registry rejects a password without its inner newline', async () => {
    const flattened = USERS['multi-line'].replace(/\n/g, '');
    expect(await registryStatus(registry, basicAuth('multi-line', flattened))).toBe(401);
  });

  test('registry rejects a password without its trailing CR or LF', async () => {
    const withoutCr = USERS['ends-in-cr'].slice(0, -1);
    const withoutLf = USERS['ends-in-lf'].slice(0, -1);
    expect(await registryStatus(registry, basicAuth('ends-in-cr', withoutCr))).toBe(401);
    expect(await registryStatus(registry, basicAuth('ends-in-lf', withoutLf))).toBe(401);
  });

  test('registry rejects another password of the same user', async () => {
    expect(await registryStatus(registry, basicAuth('plain', `${USERS.plain}x`))).toBe(401);
  });

  // bcrypt uses the first 72 bytes of a password. The end-to-end tests therefore also read the
  // stored secret back through the credential helper, to check every byte of long passwords.
  test('registry ignores password bytes past 72', async () => {
    const changedTail = `${USERS.long.slice(0, 72)}changed`;
    expect(await registryStatus(registry, basicAuth('long', changedTail))).toBe(200);
  });

  test('docker login and push reach the registry', async () => {
    const client = await createDockerClient(join(root, 'client-plain'), dockerd.host);
    const login = await client.run(
      ['login', '--username', 'plain', '--password-stdin', registry.address],
      USERS.plain,
    );
    expect(login.exitCode, describeResult(login)).toBe(0);

    const config = JSON.parse(await readFile(join(client.configDir, 'config.json'), 'utf8'));
    const expectedAuth = Buffer.from(`plain:${USERS.plain}`).toString('base64');
    expect(config.auths[registry.address].auth).toBe(expectedAuth);

    const ref = `${registry.address}/harness:1`;
    await makeImage(dockerd.host, ref);
    const push = await client.run(['push', ref]);
    expect(push.exitCode, describeResult(push)).toBe(0);

    const tags = await fetch(`http://${registry.address}/v2/harness/tags/list`, {
      headers: { Authorization: basicAuth('plain', USERS.plain) },
    });
    expect(tags.status).toBe(200);
    expect(await tags.json()).toEqual({ name: 'harness', tags: ['1'] });
  });

  test('docker login takes a multi-line password on stdin', async () => {
    const client = await createDockerClient(join(root, 'client-multi'), dockerd.host);
    const login = await client.run(
      ['login', '--username', 'multi-line', '--password-stdin', registry.address],
      USERS['multi-line'],
    );
    expect(login.exitCode, describeResult(login)).toBe(0);
  });

  // docker CLI 28 applies strings.TrimSpace to the password in PromptUserForCredentials, for
  // --password-stdin too, so a password with white space at either end cannot log in. The
  // ConfigureAuth of CLI 20.10 passed the password on as given.
  test('docker login trims spaces around the password', async (context) => {
    const client = await createDockerClient(join(root, 'client-spaced'), dockerd.host);
    const version = await client.run(['version', '--format', '{{.Client.Version}}']);
    if (Number(version.stdout.split('.')[0]) < 28) context.skip();

    const login = await client.run(
      ['login', '--username', 'spaced', '--password-stdin', registry.address],
      USERS.spaced,
    );
    expect(login.exitCode, describeResult(login)).not.toBe(0);
    expect(login.stderr).toMatch(/401 Unauthorized/);
  });

  test('docker push without login is rejected', async () => {
    const client = await createDockerClient(join(root, 'client-anonymous'), dockerd.host);
    const ref = `${registry.address}/anonymous:1`;
    await makeImage(dockerd.host, ref);
    const push = await client.run(['push', ref]);
    expect(push.exitCode, describeResult(push)).not.toBe(0);
    expect(push.stdout + push.stderr).toMatch(/no basic auth credentials|unauthorized/i);
  });

  test('mirror serves the binary and a matching checksum', async () => {
    const checksums = await fetch(`${mirror.baseUrl}${mirror.checksumsPath}`);
    expect(checksums.status).toBe(200);
    const text = await checksums.text();
    const line = /^([0-9a-f]{64}) \*(\S+)\n$/.exec(text);
    expect(line, text).not.toBeNull();
    expect(line?.[2]).toBe(`docker-credential-pass-${TAG}.linux-amd64`);

    const asset = await fetch(`${mirror.baseUrl}/${TAG}/${line?.[2]}`);
    expect(asset.status).toBe(200);
    const bytes = Buffer.from(await asset.arrayBuffer());
    expect(bytes.equals(await readFile('/usr/bin/docker-credential-pass'))).toBe(true);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(line?.[1]);

    const paths = mirror.requests.map((request) => request.path);
    expect(paths).toContain(mirror.checksumsPath);
    expect(paths).toContain(mirror.assetPath);
  });

  test('mirror answers 404 for another tag', async () => {
    const response = await fetch(`${mirror.baseUrl}/v9.9.9/checksums.txt`);
    expect(response.status).toBe(404);
  });

  describe('mirror faults', () => {
    afterAll(() => mirror.clearFaults());

    test('status fault', async () => {
      mirror.setFault(mirror.assetPath, { type: 'status', status: 503 });
      const response = await fetch(`${mirror.baseUrl}${mirror.assetPath}`);
      expect(response.status).toBe(503);
      mirror.setFault(mirror.assetPath, undefined);
      expect((await fetch(`${mirror.baseUrl}${mirror.assetPath}`)).status).toBe(200);
    });

    test('wrong-checksum fault', async () => {
      mirror.setFault(mirror.checksumsPath, { type: 'wrong-checksum' });
      const text = await (await fetch(`${mirror.baseUrl}${mirror.checksumsPath}`)).text();
      expect(text).toMatch(new RegExp(`^[0-9a-f]{64} \\*${mirror.assetName}\\n$`));
      expect(text.slice(0, 64)).not.toBe(mirror.sha256);
    });

    test('body fault', async () => {
      mirror.setFault(mirror.assetPath, { type: 'body', body: 'not a binary' });
      const text = await (await fetch(`${mirror.baseUrl}${mirror.assetPath}`)).text();
      expect(text).toBe('not a binary');
    });

    test('truncate fault', async () => {
      mirror.setFault(mirror.assetPath, { type: 'truncate', bytes: 1000 });
      const response = await fetch(`${mirror.baseUrl}${mirror.assetPath}`);
      expect(response.headers.get('content-length')).toBe(String(mirror.binary.length));
      await expect(response.arrayBuffer()).rejects.toThrow();
    });

    test('hang fault', async () => {
      mirror.setFault(mirror.assetPath, { type: 'hang' });
      const request = fetch(`${mirror.baseUrl}${mirror.assetPath}`, {
        signal: AbortSignal.timeout(500),
      });
      await expect(request).rejects.toThrow(/aborted|timeout/i);
    });
  });
});

describe('inspection helpers', () => {
  let root: string;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dpl-i-'));
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test('findInTree finds a needle but does not follow symlinks', async () => {
    const tree = join(root, 'tree');
    const outside = join(root, 'outside');
    await mkdir(join(tree, 'deep', 'er'), { recursive: true });
    await mkdir(outside);
    await writeFile(join(tree, 'deep', 'er', 'leak.bin'), Buffer.from([0, 1, 0x6e, 0x65, 0x65, 2]));
    await writeFile(join(tree, 'clean.txt'), 'nothing here');
    await writeFile(join(outside, 'other.txt'), 'other-needle');
    await symlink(outside, join(tree, 'link-to-folder'));
    await symlink(join(outside, 'other.txt'), join(tree, 'link-to-file'));

    const found = await findInTree(
      [tree, join(root, 'missing')],
      [Buffer.from('nee'), Buffer.from('other-needle')],
    );
    expect(found).toEqual([join(tree, 'deep', 'er', 'leak.bin')]);
  });

  test('process and socket checks find a gpg-agent', async () => {
    const home = join(root, 'gnupg');
    await mkdir(home, { mode: 0o700 });
    const env = { PATH: process.env.PATH, GNUPGHOME: home };
    const launch = await execute('gpgconf', ['--launch', 'gpg-agent'], { env, timeoutMs: 30_000 });
    expect(launch.exitCode, describeResult(launch)).toBe(0);
    try {
      const agents = await findProcessesMentioning(home);
      expect(agents.map((entry) => entry.cmdline)).toEqual([
        expect.stringMatching(/gpg-agent .*--homedir/),
      ]);
      const sockets = (await walkTree([home])).filter((entry) => entry.type === 'socket');
      expect(sockets.map((entry) => entry.path)).toContain(join(home, 'S.gpg-agent'));
    } finally {
      await execute('gpgconf', ['--kill', 'gpg-agent'], { env, timeoutMs: 30_000 });
    }
    for (let attempt = 0; attempt < 50; attempt += 1) {
      if ((await findProcessesMentioning(home)).length === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await findProcessesMentioning(home)).toEqual([]);
  });
});
