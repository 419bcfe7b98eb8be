import { randomBytes } from 'node:crypto';
import { KEY_LIFETIME_SECONDS } from './gpg.js';
import { maskSecret } from './secrets.js';

export interface EphemeralKey {
  armoredPrivateKey: string;
  passphrase: string;
  fingerprint: string;
}

/**
 * Generates the ephemeral OpenPGP key in-process: a v4 ed25519 primary key with a cv25519
 * encryption subkey, protected by a random 256-bit passphrase. GnuPG 2.2 and 2.4 do not import
 * the RFC 9580 key types, v6 keys or AEAD-protected secrets, so all three stay off. A random
 * passphrase needs no key stretching, so the lowest S2K iteration count loses nothing and keeps
 * every later decryption fast.
 */
export async function generateKey(): Promise<EphemeralKey> {
  const passphrase = randomBytes(32).toString('hex');
  maskSecret(passphrase);
  // Loaded here, not at the top, so that only key generation pays for parsing openpgp. The
  // minified build parses about 20 ms faster than the one that openpgp's exports map names for
  // Node, and it has no type declarations of its own: its API is the package's.
  // @ts-expect-error -- see above.
  const minified: unknown = await import('../node_modules/openpgp/dist/node/openpgp.min.mjs');
  const openpgp = minified as typeof import('openpgp');
  const { privateKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'curve25519Legacy',
    userIDs: [{ name: 'docker-pass-login ephemeral key' }],
    passphrase,
    keyExpirationTime: KEY_LIFETIME_SECONDS,
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
