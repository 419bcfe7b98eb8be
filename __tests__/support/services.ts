/**
 * Real servers for the end-to-end tests: a Docker daemon with its own containerd, a distribution
 * registry with htpasswd authentication, and an HTTP mirror of the docker-credential-helpers
 * release layout. All of them listen on the loopback interface or on unix sockets in a test folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { describeResult, execute, findExecutable } from './exec.js';

/**
 * Maximum length in bytes of the unix socket paths that the services create. Linux allows 107,
 * because sun_path is 108 bytes including the NUL.
 */
const MAX_SOCKET_PATH = 100;

/**
 * Environment for the daemons and tools that the services run: PATH only, so that no proxy or
 * REGISTRY_* variable changes them. The sbin folders hold dockerd when PATH lacks them.
 */
function daemonEnv(): NodeJS.ProcessEnv {
  return { PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/local/sbin:/usr/sbin:/sbin` };
}

/** Returns true when this process can start dockerd: running as root with dockerd installed. */
export function canRunDockerd(): boolean {
  return (
    process.getuid?.() === 0 &&
    findExecutable('dockerd', daemonEnv().PATH) !== undefined &&
    findExecutable('docker', process.env.PATH) !== undefined
  );
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Daemon {
  child: ChildProcess;
  /** Resolves when the process exits, with a description of how. */
  exited: Promise<string>;
  logFile: string;
  /** Sends SIGTERM, waits up to `graceMs` for the exit, then sends SIGKILL and waits. */
  stop(graceMs?: number): Promise<void>;
}

function startDaemon(command: string, args: string[], logFile: string): Daemon {
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, { env: daemonEnv(), stdio: ['ignore', log, log] });
  closeSync(log);
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `code ${code}`));
    child.once('error', (error) => resolve(`start failure: ${error.message}`));
  });
  const stop = async (graceMs = 20_000) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const outcome = await Promise.race([exited, sleep(graceMs, 'timeout')]);
    if (outcome === 'timeout') {
      child.kill('SIGKILL');
      await exited;
    }
  };
  return { child, exited, logFile, stop };
}

function logTail(logFile: string, lines = 30): string {
  try {
    return readFileSync(logFile, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `probe` until it returns true. Throws when the daemon exits first or `timeoutMs` passes,
 * with the end of the daemon's log.
 */
async function waitUntilReady(
  daemon: Daemon,
  serviceName: string,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  let exit: string | undefined;
  void daemon.exited.then((outcome) => (exit = outcome));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exit !== undefined) {
      const log = logTail(daemon.logFile);
      throw new Error(`${serviceName} exited (${exit}) before it was ready:\n${log}`);
    }
    if (await probe()) return;
    if (Date.now() > deadline) {
      await daemon.stop();
      const log = logTail(daemon.logFile);
      throw new Error(`${serviceName} was not ready after ${timeoutMs} ms:\n${log}`);
    }
    await sleep(100);
  }
}

export interface DockerClient {
  /**
   * Environment for the docker CLI: DOCKER_HOST, a private DOCKER_CONFIG and HOME, and a PATH
   * that contains only the docker CLI, so that the CLI finds no credential helper by itself.
   */
  env: NodeJS.ProcessEnv;
  configDir: string;
  run(args: string[], input?: string | Buffer): ReturnType<typeof execute>;
}

/**
 * Prepares a docker CLI client in `folder` for the daemon at `host`. The CLI is the first
 * `docker` on the test process's PATH. `extraEnv` adds variables such as DOCKER_TLS_VERIFY and
 * DOCKER_CERT_PATH for a daemon that wants TLS client certificates.
 */
export async function createDockerClient(
  folder: string,
  host: string,
  extraEnv: Record<string, string> = {},
): Promise<DockerClient> {
  const docker = findExecutable('docker', process.env.PATH);
  if (!docker) throw new Error('docker CLI not found on PATH.');
  const bin = join(folder, 'bin');
  const configDir = join(folder, 'config');
  const home = join(folder, 'home');
  for (const dir of [bin, configDir, home]) await mkdir(dir, { recursive: true });
  if (!existsSync(join(bin, 'docker'))) await symlink(docker, join(bin, 'docker'));
  const env = { PATH: bin, HOME: home, DOCKER_CONFIG: configDir, DOCKER_HOST: host, ...extraEnv };
  return {
    env,
    configDir,
    run: (args, input) => execute('docker', args, { env, input, timeoutMs: 120_000 }),
  };
}

export interface Dockerd {
  /** Value for DOCKER_HOST: `unix://<socket>`, or `tcp://127.0.0.1:<port>` with TLS. */
  host: string;
  /**
   * What a client needs to reach the daemon: DOCKER_HOST, and with TLS also DOCKER_TLS_VERIFY
   * and DOCKER_CERT_PATH.
   */
  env: Record<string, string>;
  logFile: string;
  stop(): Promise<void>;
}

export interface DockerdOptions {
  /**
   * Listens on a free TCP port of 127.0.0.1 with `--tlsverify` instead of a unix socket, as a
   * Docker in Docker sidecar does. Clients need a certificate that `caFile` signed.
   */
  tls?: {
    /** CA that signed the client certificates the daemon accepts (`--tlscacert`). */
    caFile: string;
    /** The daemon's certificate and key (`--tlscert`, `--tlskey`). */
    server: { certFile: string; keyFile: string };
    /** Folder with `ca.pem`, `cert.pem` and `key.pem` for clients, for DOCKER_CERT_PATH. */
    clientDir: string;
  };
}

/**
 * Starts containerd and dockerd with all their state under `root`: no bridge network, no
 * iptables rules, the vfs storage driver. dockerd gets its containerd socket explicitly, so it
 * never connects to a containerd of the machine. It listens on a unix socket under `root`, or
 * with `options.tls` on a TCP port of 127.0.0.1.
 */
export async function startDockerd(root: string, options: DockerdOptions = {}): Promise<Dockerd> {
  const dataRoot = join(root, 'data');
  const execRoot = join(root, 'x');
  const containerdState = join(execRoot, 'c');
  const containerdSocket = join(containerdState, 'c.sock');
  const dockerSocket = join(root, 'd.sock');
  for (const socket of [containerdSocket, `${containerdSocket}.ttrpc`, dockerSocket]) {
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw new Error(
        `Socket path ${socket} is over ${MAX_SOCKET_PATH} bytes: use a shorter root.`,
      );
    }
  }
  await mkdir(containerdState, { recursive: true });
  await mkdir(dataRoot, { recursive: true });

  const containerdConfig = join(root, 'containerd.toml');
  await writeFile(
    containerdConfig,
    [
      'version = 2',
      `root = "${join(dataRoot, 'containerd')}"`,
      `state = "${containerdState}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${containerdSocket}"`,
      '[ttrpc]',
      `  address = "${containerdSocket}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      // Without this, containerd creates /opt/containerd.
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${join(dataRoot, 'opt')}"`,
      '',
    ].join('\n'),
  );
  const containerd = startDaemon(
    'containerd',
    ['--config', containerdConfig],
    join(root, 'containerd.log'),
  );
  await waitUntilReady(containerd, 'containerd', async () => existsSync(containerdSocket));

  // An empty config file keeps dockerd from reading /etc/docker/daemon.json.
  const daemonConfig = join(root, 'daemon.json');
  await writeFile(daemonConfig, '{}\n');
  const baseArgs = [
    '--config-file',
    daemonConfig,
    '--containerd',
    containerdSocket,
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    '--storage-driver=vfs',
    '--data-root',
    dataRoot,
    '--exec-root',
    execRoot,
    '--pidfile',
    join(root, 'dockerd.pid'),
  ];
  const { tls } = options;

  // Another process can take a free TCP port before dockerd binds it, so try a few ports.
  let lastError: unknown;
  for (let attempt = 1; attempt <= (tls ? 3 : 1); attempt += 1) {
    let listenArgs: string[];
    let env: Record<string, string>;
    if (tls) {
      const host = `tcp://127.0.0.1:${await freePort()}`;
      listenArgs = [
        '--tlsverify',
        '--tlscacert',
        tls.caFile,
        '--tlscert',
        tls.server.certFile,
        '--tlskey',
        tls.server.keyFile,
        '-H',
        host,
      ];
      env = { DOCKER_HOST: host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: tls.clientDir };
    } else {
      listenArgs = ['-H', `unix://${dockerSocket}`];
      env = { DOCKER_HOST: `unix://${dockerSocket}` };
    }
    const dockerd = startDaemon('dockerd', [...baseArgs, ...listenArgs], join(root, 'dockerd.log'));
    try {
      const client = await createDockerClient(join(root, 'client'), env.DOCKER_HOST, env);
      await waitUntilReady(dockerd, 'dockerd', async () => {
        const result = await client.run(['version', '--format', '{{.Server.Version}}']);
        return result.exitCode === 0;
      });
      const stop = async () => {
        await dockerd.stop();
        await containerd.stop();
      };
      return { host: env.DOCKER_HOST, env, logFile: dockerd.logFile, stop };
    } catch (error) {
      lastError = error;
      await dockerd.stop();
    }
  }
  await containerd.stop();
  throw lastError;
}

export interface Registry {
  /** `127.0.0.1:<port>`, the registry name for docker and the action's `registry` input. */
  address: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Bytes of a password that bcrypt uses. The apr-util and the Go implementations ignore the rest. */
const BCRYPT_MAX_BYTES = 72;

/**
 * Returns the stdin for `htpasswd -i` that makes it hash exactly the password's bytes.
 *
 * htpasswd 2.4 reads at most 255 bytes of stdin. It drops one trailing `\n` and then one trailing
 * `\r`, and keeps inner newlines. Appending `\r\n` therefore keeps any password intact, including
 * one that ends in `\r` or `\n`. Passwords longer than bcrypt's 72 bytes are cut to 72 bytes,
 * which the registry's bcrypt check cannot tell from the full password.
 */
export function htpasswdInput(password: string): Buffer {
  const bytes = Buffer.from(password, 'utf8').subarray(0, BCRYPT_MAX_BYTES);
  return Buffer.concat([bytes, Buffer.from('\r\n')]);
}

/** Returns an htpasswd file line `user:<bcrypt hash>\n` made by `htpasswd -B`. */
export async function htpasswdLine(user: string, password: string): Promise<string> {
  const result = await execute('htpasswd', ['-B', '-i', '-n', user], {
    env: daemonEnv(),
    input: htpasswdInput(password),
    timeoutMs: 30_000,
  });
  if (result.exitCode !== 0) {
    throw new Error(`htpasswd failed for user '${user}': ${describeResult(result)}`);
  }
  return `${result.stdout.trim()}\n`;
}

export interface RegistryOptions {
  /**
   * Token authentication (`auth: token`) in place of htpasswd: the registry challenges with
   * `Bearer realm=...,service=...` and accepts JWTs from `issuer` for `service` that a key
   * whose certificate is in `rootCertBundle` signed.
   */
  token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
}

/**
 * Starts a distribution registry (`docker-registry serve`) on 127.0.0.1 with filesystem storage
 * under `root` and htpasswd authentication for `users` (user name to password). Passwords may
 * contain any characters, newlines included, but bcrypt checks only their first 72 bytes. With
 * `options.token` the registry uses token authentication instead and ignores `users`.
 */
export async function startRegistry(
  root: string,
  users: Record<string, string>,
  options: RegistryOptions = {},
): Promise<Registry> {
  await mkdir(join(root, 'data'), { recursive: true });
  const htpasswdFile = join(root, 'htpasswd');
  let auth: Record<string, unknown>;
  if (options.token) {
    const { realm, service, issuer, rootCertBundle } = options.token;
    auth = { token: { realm, service, issuer, rootcertbundle: rootCertBundle } };
  } else {
    const lines = await Promise.all(
      Object.entries(users).map(([user, password]) => htpasswdLine(user, password)),
    );
    await writeFile(htpasswdFile, lines.join(''));
    auth = { htpasswd: { realm: 'harness-registry', path: htpasswdFile } };
  }

  // Another process can take the free port before the registry binds it, so try a few ports.
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const configFile = join(root, 'config.yml');
    await writeFile(
      configFile,
      stringify({
        version: '0.1',
        log: { level: 'info' },
        storage: { filesystem: { rootdirectory: join(root, 'data') } },
        http: { addr: address, secret: randomBytes(16).toString('hex') },
        auth,
      }),
    );
    const registry = startDaemon(
      'docker-registry',
      ['serve', configFile],
      join(root, 'registry.log'),
    );
    try {
      await waitUntilReady(registry, 'docker-registry', async () => {
        try {
          const response = await fetch(`http://${address}/v2/`, {
            signal: AbortSignal.timeout(2_000),
          });
          return response.status === 401;
        } catch {
          return false;
        }
      });
      return { address, logFile: registry.logFile, stop: () => registry.stop() };
    } catch (error) {
      lastError = error;
      await registry.stop();
    }
  }
  throw lastError;
}

export type MirrorFault =
  /** Responds with this status and a short text body. */
  | { type: 'status'; status: number }
  /** Responds 200 with this body in place of the file. */
  | { type: 'body'; body: string | Buffer }
  /** For the checksums file: lists a SHA-256 that does not match the binary. */
  | { type: 'wrong-checksum' }
  /** Sends the full Content-Length but only the first `bytes` bytes, then resets the connection. */
  | { type: 'truncate'; bytes: number }
  /** Accepts the request and never responds, until `stop()`. */
  | { type: 'hang' }
  /** Sends the full Content-Length but only the first `bytes` bytes, then nothing until `stop()`. */
  | { type: 'stall'; bytes: number };

export interface MirrorRequest {
  method: string;
  /** Path and query, e.g. `/v0.8.0-local/checksums.txt`. */
  path: string;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
}

export interface Mirror {
  /** `http://127.0.0.1:<port>`, the value for the action's `helper-mirror` input. */
  baseUrl: string;
  tag: string;
  /** `docker-credential-pass-<tag>.linux-amd64`. */
  assetName: string;
  assetPath: string;
  checksumsPath: string;
  binary: Buffer;
  /** SHA-256 of `binary` in lower-case hex. */
  sha256: string;
  /** Every request received, in order. */
  requests: MirrorRequest[];
  /** Sets a fault for one path, or clears it with `undefined`. */
  setFault(path: string, fault: MirrorFault | undefined): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

export interface MirrorOptions {
  tag: string;
  /** The file served as the linux-amd64 binary; defaults to /usr/bin/docker-credential-pass. */
  binaryPath?: string;
  /**
   * More files to serve, URL path to file on disk, such as
   * `{ '/password-store-1.7.4.tar.xz': tarball }` for the action's `pass-mirror` input. They are
   * read at start, and faults apply to their paths too.
   */
  extraFiles?: Record<string, string>;
}

/**
 * Starts an HTTP server on 127.0.0.1 with the release layout of docker-credential-helpers for
 * one tag: `/<tag>/docker-credential-pass-<tag>.linux-amd64` and `/<tag>/checksums.txt` with the
 * line `<sha256> *<file name>`, and the `extraFiles`. Other paths get 404.
 */
export async function startMirror(options: MirrorOptions): Promise<Mirror> {
  const { tag } = options;
  const binary = await readFile(options.binaryPath ?? '/usr/bin/docker-credential-pass');
  const sha256 = createHash('sha256').update(binary).digest('hex');
  const assetName = `docker-credential-pass-${tag}.linux-amd64`;
  const assetPath = `/${tag}/${assetName}`;
  const checksumsPath = `/${tag}/checksums.txt`;
  const checksums = (digest: string) => `${digest} *${assetName}\n`;
  const files = new Map<string, Buffer>([
    [assetPath, binary],
    [checksumsPath, Buffer.from(checksums(sha256))],
  ]);
  for (const [path, file] of Object.entries(options.extraFiles ?? {})) {
    files.set(path, await readFile(file));
  }
  const faults = new Map<string, MirrorFault>();
  const requests: MirrorRequest[] = [];

  const send = (response: ServerResponse, status: number, body: Buffer) => {
    response.writeHead(status, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': body.length,
    });
    response.end(body);
  };

  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    requests.push({ method: request.method ?? 'GET', path, receivedAt: Date.now() });
    const file = files.get(path.replace(/\?.*$/, ''));
    const fault = faults.get(path.replace(/\?.*$/, ''));

    if (fault?.type === 'hang') return;
    if (fault?.type === 'status') {
      send(response, fault.status, Buffer.from(`status ${fault.status} set by the test\n`));
      return;
    }
    if (fault?.type === 'body') {
      send(response, 200, Buffer.from(fault.body));
      return;
    }
    if (fault?.type === 'wrong-checksum') {
      const other = createHash('sha256').update(binary).update('other').digest('hex');
      send(response, 200, Buffer.from(checksums(other)));
      return;
    }
    if (!file) {
      send(response, 404, Buffer.from('Not Found\n'));
      return;
    }
    if (fault?.type === 'truncate') {
      response.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': file.length,
      });
      response.write(file.subarray(0, fault.bytes), () => response.destroy());
      return;
    }
    if (fault?.type === 'stall') {
      response.writeHead(200, {
        'Content-Type': 'application/octet-stream',
        'Content-Length': file.length,
      });
      response.write(file.subarray(0, fault.bytes));
      return;
    }
    send(response, 200, file);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    tag,
    assetName,
    assetPath,
    checksumsPath,
    binary,
    sha256,
    requests,
    setFault: (path, fault) => {
      if (fault) faults.set(path, fault);
      else faults.delete(path);
    },
    clearFaults: () => faults.clear(),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Creates a one-layer image in the daemon at `dockerHost` and tags it `ref`, without running a
 * container: `docker import` of a tar with one file of random content, so that every image has a
 * layer the registry has not seen. `clientEnv` adds client variables such as DOCKER_CERT_PATH.
 * Returns the image id.
 */
export async function makeImage(
  dockerHost: string,
  ref: string,
  clientEnv: Record<string, string> = {},
): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'dpl-image-'));
  try {
    const content = join(folder, 'content');
    await mkdir(content);
    await writeFile(join(content, 'hello.txt'), `${ref} ${randomBytes(16).toString('hex')}\n`);
    const tarFile = join(folder, 'image.tar');
    const tar = await execute('tar', ['-C', content, '-cf', tarFile, '.'], {
      env: daemonEnv(),
      timeoutMs: 30_000,
    });
    if (tar.exitCode !== 0) throw new Error(`tar failed: ${describeResult(tar)}`);

    const client = await createDockerClient(join(folder, 'client'), dockerHost, clientEnv);
    const imported = await client.run(['import', tarFile]);
    if (imported.exitCode !== 0)
      throw new Error(`docker import failed: ${describeResult(imported)}`);
    const id = imported.stdout.trim();
    const tagged = await client.run(['tag', id, ref]);
    if (tagged.exitCode !== 0) throw new Error(`docker tag failed: ${describeResult(tagged)}`);
    return id;
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
