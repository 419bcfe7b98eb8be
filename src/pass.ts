import { mkdir, writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { runTool } from './exec.js';
import { shellQuote } from './docker-config.js';
import { gpgEnv } from './gpg.js';

/**
 * Environment for pass and docker-credential-pass: this job's GnuPG home and store only. Settings
 * from the user's own pass setup that would change what is encrypted to whom are removed.
 * `toolDirs` go first on PATH: the folder of a downloaded pass, or of a GNU getopt off PATH.
 */
export function passEnv(
  gnupgHome: string,
  storeDir: string,
  toolDirs: string[] = [],
): NodeJS.ProcessEnv {
  const env = gpgEnv(gnupgHome);
  env.PATH = [...toolDirs, env.PATH ?? ''].join(delimiter);
  for (const name of Object.keys(env)) {
    if (name.startsWith('PASSWORD_STORE_')) delete env[name];
  }
  env.PASSWORD_STORE_DIR = storeDir;
  // pass adds --batch itself only when a `gpg2` binary exists; without it gpg could prompt.
  env.PASSWORD_STORE_GPG_OPTS = '--batch';
  return env;
}

/** Runs `pass init` so that the store encrypts every entry to the ephemeral key. */
export async function initStore(
  gnupgHome: string,
  storeDir: string,
  fingerprint: string,
  toolDirs: string[] = [],
) {
  await runTool('pass', ['init', fingerprint], {
    purpose: 'Initialising the password store',
    env: passEnv(gnupgHome, storeDir, toolDirs),
    timeoutMs: 30_000,
  });
}

/**
 * Writes a `pass` wrapper into `passDir` that runs the release's `password-store.sh` with bash.
 * docker-credential-pass runs `pass` from PATH by that exact name, so the helper's wrapper puts
 * `passDir` first on its PATH. The job's own PATH is left alone.
 */
export async function writePassWrapper(passDir: string, script: string): Promise<void> {
  await mkdir(passDir, { recursive: true, mode: 0o700 });
  const body = `#!/bin/sh\nexec bash ${shellQuote(script)} "$@"\n`;
  await writeFile(join(passDir, 'pass'), body, { mode: 0o700 });
}

/**
 * Writes a `pass` shim into `shimDir` that handles, without starting bash, the commands that
 * docker-credential-pass runs on every credential lookup and logout. pass 1.7.4 takes about
 * 25 ms for each on a 2-core machine (bench/profile.ts), more than the decryption itself.
 * The helper runs `pass ls` only to check that the store is initialised, `pass show NAME` is a gpg
 * decryption of NAME.gpg with the options pass adds, and `pass rm -rf NAME` removes the folder
 * NAME and then its parent folders that are left empty. Every other command, and any
 * name that pass would check more closely, goes to `realPass`.
 */
export async function writePassShim(shimDir: string, realPass: string): Promise<void> {
  await mkdir(shimDir, { recursive: true, mode: 0o700 });
  const body = [
    '#!/bin/sh',
    '# Written by docker-pass-login; see writePassShim in its src/pass.ts.',
    ': "${PASSWORD_STORE_DIR:=$HOME/.password-store}"',
    'case "$1" in',
    'ls)',
    '  if [ "$#" -eq 1 ] && [ -f "$PASSWORD_STORE_DIR/.gpg-id" ]; then exit 0; fi ;;',
    'show)',
    '  case "$2" in',
    "  ''|/*|-*|*..*) ;;",
    '  *)',
    '    if [ "$#" -eq 2 ] && [ -f "$PASSWORD_STORE_DIR/$2.gpg" ]; then',
    '      exec gpg -d $PASSWORD_STORE_GPG_OPTS --quiet --yes --compress-algo=none --no-encrypt-to \\',
    '        "$PASSWORD_STORE_DIR/$2.gpg"',
    '    fi ;;',
    '  esac ;;',
    'rm)',
    '  case "$3" in',
    "  ''|/*|-*|*..*) ;;",
    '  *)',
    '    if [ "$#" -eq 3 ] && [ "$2" = -rf ] && [ -d "$PASSWORD_STORE_DIR/$3" ]; then',
    '      rm -rf "$PASSWORD_STORE_DIR/$3"',
    '      rmdir -p "$(dirname "$PASSWORD_STORE_DIR/$3")" 2>/dev/null',
    '      exit 0',
    '    fi ;;',
    '  esac ;;',
    'esac',
    `exec ${shellQuote(realPass)} "$@"`,
    '',
  ].join('\n');
  await writeFile(join(shimDir, 'pass'), body, { mode: 0o700 });
}
