import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import * as core from '@actions/core';
import { runTool } from './exec.js';

const INSTALL_HINT: Record<string, string> = {
  gpg: 'install GnuPG 2.1 or newer (Debian and Ubuntu: sudo apt-get install gnupg)',
  'gpg-agent': 'install gpg-agent (Debian and Ubuntu: sudo apt-get install gpg-agent)',
  gpgconf: 'install GnuPG 2.1 or newer (Debian and Ubuntu: sudo apt-get install gnupg)',
  getopt: 'install GNU getopt (Debian and Ubuntu: sudo apt-get install util-linux)',
};

const DOCKER_HINT = 'install the Docker CLI (Debian and Ubuntu: sudo apt-get install docker.io)';

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
 * Checks that every tool the login needs is on PATH and usable, and throws one error that names
 * each missing tool and how to install it. Returns whether the docker CLI and pass are there.
 * Without docker the credentials are verified against the registry API and stored for other
 * clients, such as buildah, kaniko, crane or skopeo, that read the same config.json. Without
 * pass its release tarball is downloaded.
 */
export async function checkTools(
  platform: NodeJS.Platform,
): Promise<{ docker: boolean; pass: boolean }> {
  if (platform !== 'linux') {
    throw new Error(`This action runs on Linux runners only; this runner's system is ${platform}.`);
  }
  const missing = Object.keys(INSTALL_HINT).filter((tool) => !findOnPath(tool));
  if (missing.length > 0) {
    const lines = missing.map((tool) => `${tool}: ${INSTALL_HINT[tool]}`);
    throw new Error(`Required tools are not on PATH: ${lines.join('; ')}.`);
  }
  await checkGpgVersion();
  await checkGnuGetopt();
  const docker = findOnPath('docker') !== undefined;
  if (!docker) {
    core.info(
      'docker is not on PATH, so the credentials are checked against the registry API and ' +
        `stored for clients that read config.json. To use docker in later steps, ${DOCKER_HINT}.`,
    );
  }
  const pass = findOnPath('pass') !== undefined;
  if (!pass) core.info('pass is not on PATH; the pass 1.7.4 release is used instead.');
  return { docker, pass };
}

/** Returns the version that the first line of `gpg --version` names, such as `2.2.40`. */
export function parseGpgVersion(output: string): [number, number, number] | undefined {
  const match = /^gpg \(GnuPG[^)]*\) (\d+)\.(\d+)\.(\d+)/m.exec(output);
  return match ? [Number(match[1]), Number(match[2]), Number(match[3])] : undefined;
}

async function checkGpgVersion(): Promise<void> {
  const { stdout } = await runTool('gpg', ['--version'], { purpose: 'Checking the gpg version' });
  const version = parseGpgVersion(stdout);
  if (!version) {
    throw new Error(`Cannot read the gpg version from '${stdout.split('\n')[0]}'.`);
  }
  const [major, minor] = version;
  if (major < 2 || (major === 2 && minor < 1)) {
    throw new Error(
      `gpg ${version.join('.')} is too old: this action needs GnuPG 2.1 or newer for ` +
        `gpg-agent presets and ed25519 keys; ${INSTALL_HINT.gpg}.`,
    );
  }
}

/**
 * pass needs GNU getopt: with the BSD one, `pass init` and `pass insert` loop forever. GNU
 * getopt exits with code 4 on `--test`; others print something and exit 0.
 */
async function checkGnuGetopt(): Promise<void> {
  const { exitCode } = await runTool('getopt', ['--test'], {
    purpose: 'Checking getopt',
    allowFailure: true,
    timeoutMs: 10_000,
  });
  if (exitCode !== 4) {
    throw new Error(
      `The getopt on PATH is not GNU getopt, which pass needs; ${INSTALL_HINT.getopt}.`,
    );
  }
}
