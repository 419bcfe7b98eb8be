import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import * as core from './actions-core.js';
import { runTool } from './exec.js';

const LINUX_HINT: Record<string, string> = {
  gpg: 'install GnuPG 2.1 or newer (Debian and Ubuntu: sudo apt-get install gnupg)',
  'gpg-agent': 'install gpg-agent (Debian and Ubuntu: sudo apt-get install gpg-agent)',
  gpgconf: 'install GnuPG 2.1 or newer (Debian and Ubuntu: sudo apt-get install gnupg)',
  getopt: 'install GNU getopt (Debian and Ubuntu: sudo apt-get install util-linux)',
};

/** The one Homebrew line that gives macOS every tool this action needs besides docker. */
export const BREW_INSTALL = 'brew install gnupg gnu-getopt';

/**
 * Folders in which Homebrew keeps gnu-getopt on Apple silicon and on Intel Macs. The formula is keg-only,
 * so it is not on PATH; pass 1.7.4 looks for it in these places itself.
 */
const BREW_GETOPT_DIRS = ['/opt/homebrew/opt/gnu-getopt/bin', '/usr/local/opt/gnu-getopt/bin'];

const DOCKER_HINT = 'install the Docker CLI (Debian and Ubuntu: sudo apt-get install docker.io)';

export interface Tools {
  docker: boolean;
  pass: boolean;
  /** Folder of a GNU getopt that is not on PATH, for pass to find. */
  getoptDir?: string;
}

/** Returns the first executable named `name` on PATH, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

/**
 * Checks that every tool the login needs is there and usable, and throws one error that names
 * each missing tool and how to install it. Returns whether the docker CLI and pass are there.
 * Without docker the credentials are verified against the registry API and stored for other
 * clients, such as buildah, kaniko, crane or skopeo, that read the same config.json. Without
 * pass its release tarball is downloaded.
 */
export async function checkTools(platform: NodeJS.Platform): Promise<Tools> {
  if (platform !== 'linux' && platform !== 'darwin') {
    throw new Error(`This action runs on Linux and macOS runners, not on ${platform}.`);
  }
  const getopt = findGetopt(platform);
  const missing = ['gpg', 'gpg-agent', 'gpgconf'].filter((tool) => !findOnPath(tool));
  if (!getopt) missing.push('getopt');
  if (missing.length > 0) {
    const fix =
      platform === 'darwin'
        ? `install them with Homebrew: ${BREW_INSTALL}`
        : missing.map((tool) => `${tool}: ${LINUX_HINT[tool]}`).join('; ');
    throw new Error(`Required tools are not found: ${missing.join(', ')}. To fix it, ${fix}.`);
  }
  await checkGpgVersion(platform);
  await checkGnuGetopt(getopt as string, platform);
  const docker = findOnPath('docker') !== undefined;
  if (!docker) {
    core.info(
      'docker is not on PATH, so the credentials are checked against the registry API and ' +
        `stored for clients that read config.json. To use docker in later steps, ${DOCKER_HINT}.`,
    );
  }
  const pass = findOnPath('pass') !== undefined;
  if (!pass) core.info('pass is not on PATH; the pass 1.7.4 release is used instead.');
  const onPath = findOnPath('getopt') === getopt;
  return { docker, pass, getoptDir: onPath ? undefined : dirname(getopt as string) };
}

/** Returns the getopt to use: Homebrew's GNU getopt on macOS where it is there, else PATH's. */
function findGetopt(platform: NodeJS.Platform): string | undefined {
  if (platform === 'darwin') {
    const brew = BREW_GETOPT_DIRS.map((dir) => join(dir, 'getopt')).find((file) => {
      try {
        accessSync(file, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
    if (brew) return brew;
  }
  return findOnPath('getopt');
}

/** Returns the version that the first line of `gpg --version` names, such as `2.2.40`. */
export function parseGpgVersion(output: string): [number, number, number] | undefined {
  const match = /^gpg \(GnuPG[^)]*\) (\d+)\.(\d+)\.(\d+)/m.exec(output);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

async function checkGpgVersion(platform: NodeJS.Platform): Promise<void> {
  const { stdout } = await runTool('gpg', ['--version'], {
    purpose: 'Checking the gpg version',
    timeoutMs: 10_000,
  });
  const version = parseGpgVersion(stdout);
  if (!version) {
    throw new Error(`Cannot read the gpg version from '${stdout.split('\n')[0]}'.`);
  }
  const [major, minor] = version;
  if (major < 2 || (major === 2 && minor < 1)) {
    const fix = platform === 'darwin' ? BREW_INSTALL : LINUX_HINT.gpg;
    throw new Error(
      `gpg ${version.join('.')} is too old: this action needs GnuPG 2.1 or newer for ` +
        `gpg-agent presets and ed25519 keys. To fix it, ${fix}.`,
    );
  }
}

/**
 * pass needs GNU getopt: with the BSD one, `pass init` and `pass insert` loop forever. GNU
 * getopt exits with code 4 on `--test`; others print something and exit 0.
 */
async function checkGnuGetopt(getopt: string, platform: NodeJS.Platform): Promise<void> {
  const { exitCode } = await runTool(getopt, ['--test'], {
    purpose: 'Checking getopt',
    allowFailure: true,
    timeoutMs: 10_000,
  });
  if (exitCode !== 4) {
    const fix = platform === 'darwin' ? BREW_INSTALL : LINUX_HINT.getopt;
    throw new Error(`${getopt} is not GNU getopt, which pass needs. To fix it, ${fix}.`);
  }
}
