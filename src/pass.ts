import { runTool } from './exec.js';
import { gpgEnv } from './gpg.js';

/**
 * Environment for pass and docker-credential-pass: this job's GnuPG home and store only. Settings
 * from the user's own pass setup that would change what is encrypted to whom are removed.
 */
export function passEnv(gnupgHome: string, storeDir: string): NodeJS.ProcessEnv {
  const env = gpgEnv(gnupgHome);
  for (const name of Object.keys(env)) {
    if (name.startsWith('PASSWORD_STORE_')) delete env[name];
  }
  env.PASSWORD_STORE_DIR = storeDir;
  // pass adds --batch itself only when a `gpg2` binary exists; without it gpg could prompt.
  env.PASSWORD_STORE_GPG_OPTS = '--batch';
  return env;
}

/** Runs `pass init` so that the store encrypts every entry to the ephemeral key. */
export async function initStore(gnupgHome: string, storeDir: string, fingerprint: string) {
  await runTool('pass', ['init', fingerprint], {
    purpose: 'Initialising the password store',
    env: passEnv(gnupgHome, storeDir),
    timeoutMs: 30_000,
  });
}
