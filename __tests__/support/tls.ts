/**
 * Test certificates made with the openssl CLI: a certificate authority, certificates it issues
 * for TLS servers and clients, and self-signed certificates for token signing keys. Every key is
 * an ECDSA P-256 key, which Go's crypto/tls and crypto/x509 accept, and every certificate is valid
 * for two days from now.
 */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describeResult, execute } from './exec.js';

export interface KeyPair {
  /** PEM certificate. */
  certFile: string;
  /** PEM private key without a passphrase. */
  keyFile: string;
}

async function openssl(args: string[], purpose: string): Promise<void> {
  const result = await execute('openssl', args, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    timeoutMs: 30_000,
  });
  if (result.exitCode !== 0)
    throw new Error(`openssl failed to ${purpose}: ${describeResult(result)}`);
}

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Creates a self-signed certificate in `folder` as `<name>.pem` and `<name>-key.pem`. With
 * `ca` set it is a certificate authority (basicConstraints CA:TRUE, keyCertSign).
 */
export async function makeSelfSigned(
  folder: string,
  name: string,
  options: { commonName: string; ca?: boolean },
): Promise<KeyPair> {
  await mkdir(folder, { recursive: true });
  const pair = { certFile: join(folder, `${name}.pem`), keyFile: join(folder, `${name}-key.pem`) };
  const extensions = options.ca
    ? ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign']
    : ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature'];
  await openssl(
    [
      'req',
      '-x509',
      ...NEW_KEY,
      '-keyout',
      pair.keyFile,
      '-out',
      pair.certFile,
      '-days',
      '2',
      '-subj',
      `/CN=${options.commonName}`,
      ...extensions.flatMap((extension) => ['-addext', extension]),
    ],
    `create the certificate ${name}`,
  );
  return pair;
}

/**
 * Creates a key and a certificate that `ca` signs, at the paths of `pair`. `extensions` are
 * OpenSSL x509v3 lines such as `subjectAltName=IP:127.0.0.1` or `extendedKeyUsage=clientAuth`.
 */
export async function issueCertificate(
  ca: KeyPair,
  pair: KeyPair,
  options: { commonName: string; extensions: string[] },
): Promise<KeyPair> {
  await mkdir(dirname(pair.certFile), { recursive: true });
  await mkdir(dirname(pair.keyFile), { recursive: true });
  const request = `${pair.certFile}.csr`;
  const extensionFile = `${pair.certFile}.ext`;
  await openssl(
    [
      'req',
      '-new',
      ...NEW_KEY,
      '-keyout',
      pair.keyFile,
      '-out',
      request,
      '-subj',
      `/CN=${options.commonName}`,
    ],
    `create the key and request for ${pair.certFile}`,
  );
  const extensions = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyAgreement',
    ...options.extensions,
  ];
  await writeFile(extensionFile, `${extensions.join('\n')}\n`);
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      request,
      '-CA',
      ca.certFile,
      '-CAkey',
      ca.keyFile,
      '-set_serial',
      `0x${randomBytes(8).toString('hex')}`,
      '-days',
      '2',
      '-extfile',
      extensionFile,
      '-out',
      pair.certFile,
    ],
    `sign ${pair.certFile}`,
  );
  await Promise.all([rm(request), rm(extensionFile)]);
  return pair;
}

export interface DockerTlsFiles {
  /** The CA that issued both certificates. */
  caFile: string;
  /** Server certificate for 127.0.0.1 and its key, for dockerd's --tlscert and --tlskey. */
  server: KeyPair;
  /**
   * Folder in the layout that DOCKER_CERT_PATH expects: `ca.pem`, and the client certificate
   * as `cert.pem` with its key as `key.pem`.
   */
  clientDir: string;
}

/**
 * Creates what a Docker daemon with `--tlsverify` and its clients need, as Docker in Docker
 * sidecars generate it: a CA, a server certificate with subjectAltName IP:127.0.0.1 and
 * extendedKeyUsage serverAuth, and a client certificate with extendedKeyUsage clientAuth.
 */
export async function makeDockerTlsFiles(folder: string): Promise<DockerTlsFiles> {
  const ca = await makeSelfSigned(join(folder, 'ca'), 'ca', {
    commonName: 'docker-pass-login test CA',
    ca: true,
  });
  const serverDir = join(folder, 'server');
  const clientDir = join(folder, 'client');
  const [server] = await Promise.all([
    issueCertificate(
      ca,
      { certFile: join(serverDir, 'cert.pem'), keyFile: join(serverDir, 'key.pem') },
      {
        commonName: '127.0.0.1',
        extensions: ['subjectAltName=IP:127.0.0.1', 'extendedKeyUsage=serverAuth'],
      },
    ),
    issueCertificate(
      ca,
      { certFile: join(clientDir, 'cert.pem'), keyFile: join(clientDir, 'key.pem') },
      { commonName: 'docker-pass-login test client', extensions: ['extendedKeyUsage=clientAuth'] },
    ),
  ]);
  await copyFile(ca.certFile, join(clientDir, 'ca.pem'));
  return { caFile: ca.certFile, server, clientDir };
}
