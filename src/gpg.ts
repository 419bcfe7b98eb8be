import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runTool } from './exec.js';
import type { EphemeralKey } from './keygen.js';

/**
 * Lifetime of the agent's cached passphrase and of the key: 8 days, longer than the 5 days that
 * GitHub allows a job on a self-hosted runner.
 */
export const KEY_LIFETIME_SECONDS = 8 * 24 * 60 * 60;

/** Environment for gpg, gpg-agent and pass that points them at the private GnuPG home only. */
export function gpgEnv(gnupgHome: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, GNUPGHOME: gnupgHome };
  // A forwarded or user agent must not be used instead of this home's own agent.
  delete env.GPG_AGENT_INFO;
  return env;
}

/**
 * Creates the GnuPG home with mode 0700 and writes gpg.conf, and gpg-agent.conf before any
 * agent starts. Presetting needs `allow-preset-passphrase` at agent start, a pinentry that fails
 * at once keeps a missing passphrase from hanging the job, and a low `s2k-count` keeps each
 * decryption fast because the agent re-protects keys with its own count.
 */
export async function createGnupgHome(gnupgHome: string): Promise<void> {
  await mkdir(gnupgHome, { recursive: true, mode: 0o700 });
  const falseProgram = ['/bin/false', '/usr/bin/false'].find((path) => existsSync(path));
  const lines = [
    'allow-preset-passphrase',
    `default-cache-ttl ${KEY_LIFETIME_SECONDS}`,
    `max-cache-ttl ${KEY_LIFETIME_SECONDS}`,
    's2k-count 65536',
    'disable-scdaemon',
  ];
  if (falseProgram) lines.push(`pinentry-program ${falseProgram}`);
  await writeFile(join(gnupgHome, 'gpg-agent.conf'), `${lines.join('\n')}\n`, { mode: 0o600 });
  // Without autostart, gpg fails at once when the agent is gone instead of starting one that
  // lacks the preset passphrase and then failing at the pinentry.
  await writeFile(join(gnupgHome, 'gpg.conf'), 'no-greeting\nno-autostart\n', { mode: 0o600 });
}

/**
 * Starts the agent, imports the key, trusts it ultimately (pass refuses to encrypt to a key
 * without ownertrust) and presets the passphrase of the encryption subkey. The private key stays
 * encrypted on disk; the passphrase lives only in the agent's memory.
 */
export async function importKey(gnupgHome: string, key: EphemeralKey): Promise<void> {
  const env = gpgEnv(gnupgHome);
  await runTool('gpgconf', ['--launch', 'gpg-agent'], { purpose: 'Starting gpg-agent', env });
  await runTool('gpg', ['--batch', '--import'], {
    purpose: 'Importing the ephemeral key into GnuPG',
    input: key.armoredPrivateKey,
    env,
  });
  const keygrip = await encryptionKeygrip(gnupgHome, key.fingerprint);
  await runTool('gpg', ['--batch', '--import-ownertrust'], {
    purpose: 'Trusting the ephemeral key',
    input: `${key.fingerprint}:6:\n`,
    env,
  });
  const libexecdir = await gpgconfDir(env, 'libexecdir');
  await runTool(join(libexecdir, 'gpg-preset-passphrase'), ['--preset', keygrip], {
    purpose: 'Presetting the passphrase in gpg-agent',
    input: key.passphrase,
    env,
  });
}

/**
 * Returns the keygrip of the key's encryption subkey. An ed25519 primary key with a subkey type
 * that GnuPG does not support imports with exit code 0 but without the subkey, so its absence is
 * an error here rather than a confusing failure in pass later.
 */
export async function encryptionKeygrip(gnupgHome: string, fingerprint: string): Promise<string> {
  const { stdout } = await runTool(
    'gpg',
    ['--batch', '--with-colons', '--with-keygrip', '--list-secret-keys', fingerprint],
    { purpose: 'Listing the imported key', env: gpgEnv(gnupgHome) },
  );
  const records = stdout.split('\n').map((line) => line.split(':'));
  for (let index = 0; index < records.length; index++) {
    const fields = records[index];
    if (fields[0] !== 'ssb' || !fields[11]?.includes('e')) continue;
    const grip = records.slice(index + 1).find((next) => next[0] === 'grp' || next[0] === 'ssb');
    if (grip?.[0] === 'grp' && /^[0-9A-F]{40}$/.test(grip[9])) return grip[9];
  }
  throw new Error(
    `GnuPG imported key ${fingerprint} without an encryption subkey; this GnuPG version does ` +
      'not support cv25519 subkeys. Use GnuPG 2.2 or newer.',
  );
}

/** Deletes the key pair by its full fingerprint, which batch deletion requires. */
export async function deleteKey(gnupgHome: string, fingerprint: string): Promise<void> {
  await runTool('gpg', ['--batch', '--yes', '--delete-secret-and-public-key', fingerprint], {
    purpose: `Deleting key ${fingerprint}`,
    env: gpgEnv(gnupgHome),
  });
}

/** Stops the agent of this GnuPG home, and with it every passphrase it holds. */
export async function stopAgent(gnupgHome: string): Promise<void> {
  await runTool('gpgconf', ['--kill', 'gpg-agent'], {
    purpose: 'Stopping gpg-agent',
    env: gpgEnv(gnupgHome),
  });
}

async function gpgconfDir(env: NodeJS.ProcessEnv, name: string): Promise<string> {
  const { stdout } = await runTool('gpgconf', ['--list-dirs', name], {
    purpose: `Finding the GnuPG ${name}`,
    env,
  });
  // gpgconf percent-escapes special characters such as ':' in paths.
  return decodeURIComponent(stdout.trim());
}
