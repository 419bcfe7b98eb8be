/**
 * GnuPG homes set up the way main sets up its own, for timing decryption at main's `s2k-count`
 * and at gpg-agent's default, and for timing key generation with gpg itself.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execute } from '../__tests__/support/exec.js';
import { timeCommand, type CleanupStack } from './harness.js';

export interface TestKey {
  armoredPrivateKey: string;
  passphrase: string;
  fingerprint: string;
}

/** Generates a key with the options of main (src/keygen.ts): v4 ed25519, a cv25519 subkey. */
export async function generateTestKey(): Promise<TestKey> {
  const openpgp = await import('openpgp');
  const passphrase = randomBytes(32).toString('hex');
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'docker-pass-login benchmark key' }],
    passphrase,
    format: 'armored',
    config: { v6Keys: false, aeadProtect: false, s2kIterationCountByte: 0 },
  });
  const key = await openpgp.readPrivateKey({ armoredKey: privateKey });
  return {
    armoredPrivateKey: privateKey,
    passphrase,
    fingerprint: key.getFingerprint().toUpperCase(),
  };
}

/**
 * Creates a GnuPG home with `agentConf` as gpg-agent.conf, starts its agent, imports `key`,
 * trusts it, presets its passphrase and encrypts a short secret to it. Returns the environment
 * for gpg and the encrypted file. The agent is stopped by `cleanup`.
 */
export async function prepareHome(
  home: string,
  agentConf: string,
  key: TestKey,
  cleanup: CleanupStack,
): Promise<{ env: NodeJS.ProcessEnv; file: string }> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeFile(join(home, 'gpg-agent.conf'), agentConf, { mode: 0o600 });
  await writeFile(join(home, 'gpg.conf'), 'no-greeting\n', { mode: 0o600 });
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, GNUPGHOME: home };
  await timeCommand('gpgconf', ['--launch', 'gpg-agent'], env);
  cleanup.add(async () => {
    await execute('gpgconf', ['--kill', 'gpg-agent'], { env, timeoutMs: 10_000 });
  });
  await timeCommand('gpg', ['--batch', '--import'], env, key.armoredPrivateKey);
  await timeCommand('gpg', ['--batch', '--import-ownertrust'], env, `${key.fingerprint}:6:\n`);

  const listing = await timeCommand(
    'gpg',
    ['--batch', '--with-colons', '--with-keygrip', '--list-secret-keys', key.fingerprint],
    env,
  );
  const grip = encryptionKeygrip(listing.result.stdout);
  const libexec = await timeCommand('gpgconf', ['--list-dirs', 'libexecdir'], env);
  const preset = join(decodeURIComponent(libexec.result.stdout.trim()), 'gpg-preset-passphrase');
  await timeCommand(preset, ['--preset', grip], env, key.passphrase);

  const file = join(home, 'secret.gpg');
  const encryptArgs = ['--batch', '--yes', '--encrypt', '--recipient', key.fingerprint];
  await timeCommand('gpg', [...encryptArgs, '--output', file], env, 'benchmark secret\n');
  return { env, file };
}

/** Returns the keygrip of the encryption subkey from `--with-colons --with-keygrip` output. */
function encryptionKeygrip(listing: string): string {
  const records = listing.split('\n').map((line) => line.split(':'));
  for (let index = 0; index < records.length; index++) {
    if (records[index][0] !== 'ssb' || !records[index][11]?.includes('e')) continue;
    const grip = records.slice(index + 1).find((next) => next[0] === 'grp');
    if (grip) return grip[9];
  }
  throw new Error('The imported test key has no encryption subkey.');
}

/** Returns the arguments with which pass 1.7.4 decrypts an entry, with the wrapper's `--batch`. */
export function passDecryptArgs(file: string): string[] {
  return ['-d', '--batch', '--quiet', '--yes', '--compress-algo=none', '--no-encrypt-to', file];
}

/**
 * Times generating the same kind of key with gpg itself in a new home with `agentConf`: an
 * ed25519 primary key and a cv25519 encryption subkey, protected by a random passphrase given
 * on stdin. Returns [step, ms] pairs.
 */
export async function timeGpgKeyGeneration(
  home: string,
  agentConf: string,
  cleanup: CleanupStack,
): Promise<Array<[string, number]>> {
  await mkdir(home, { recursive: true, mode: 0o700 });
  await writeFile(join(home, 'gpg-agent.conf'), agentConf, { mode: 0o600 });
  await writeFile(join(home, 'gpg.conf'), 'no-greeting\n', { mode: 0o600 });
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, GNUPGHOME: home };
  const launch = await timeCommand('gpgconf', ['--launch', 'gpg-agent'], env);
  cleanup.add(async () => {
    await execute('gpgconf', ['--kill', 'gpg-agent'], { env, timeoutMs: 10_000 });
  });
  const passphrase = randomBytes(32).toString('hex');
  const loopback = ['--batch', '--pinentry-mode', 'loopback', '--passphrase-fd', '0'];
  const primary = await timeCommand(
    'gpg',
    [...loopback, '--status-fd', '1', '--quick-gen-key', 'benchmark key', 'ed25519', 'cert', '8d'],
    env,
    `${passphrase}\n`,
  );
  const fingerprint = /KEY_CREATED \w+ ([0-9A-F]{40})/.exec(primary.result.stdout)?.[1];
  if (!fingerprint) throw new Error('gpg --quick-gen-key reported no KEY_CREATED fingerprint.');
  const subkey = await timeCommand(
    'gpg',
    [...loopback, '--quick-add-key', fingerprint, 'cv25519', 'encr', '8d'],
    env,
    `${passphrase}\n`,
  );
  return [
    ['gpgconf --launch gpg-agent', launch.ms],
    ['gpg --quick-gen-key (ed25519 primary key)', primary.ms],
    ['gpg --quick-add-key (cv25519 subkey)', subkey.ms],
  ];
}
