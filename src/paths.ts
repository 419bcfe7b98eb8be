import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

/**
 * Longest unix socket path: sun_path is 108 bytes on Linux and 104 on macOS, with a terminating
 * NUL.
 */
const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;
/** The longest socket name gpg-agent creates in its home. */
const LONGEST_AGENT_SOCKET = 'S.gpg-agent.browser';

export interface WorkPaths {
  id: string;
  workDir: string;
  gnupgHome: string;
  storeDir: string;
  configDir: string;
  binDir: string;
  /** Folder of the `pass` wrapper, used only where pass is not installed. */
  passDir: string;
  helperName: string;
}

/**
 * Plans the private folders of this use of the action under RUNNER_TEMP. The names are short
 * because gpg-agent puts its sockets in the GnuPG home, and a socket path over 107 bytes makes
 * gpg report "No agent running". A random id keeps two uses in one job, or two jobs that share
 * a RUNNER_TEMP, apart.
 */
export function planPaths(runnerTemp: string | undefined): WorkPaths {
  if (!runnerTemp) {
    throw new Error(
      'RUNNER_TEMP is not set. This action creates its private files under the runner temp ' +
        'folder, which the runner empties at the start and end of every job; run it in a ' +
        'GitHub Actions job, or set RUNNER_TEMP to a private folder.',
    );
  }
  const id = randomBytes(4).toString('hex');
  const workDir = join(runnerTemp, `dpl-${id}`);
  const paths: WorkPaths = {
    id,
    workDir,
    gnupgHome: join(workDir, 'g'),
    storeDir: join(workDir, 's'),
    configDir: join(workDir, 'c'),
    binDir: join(workDir, 'b'),
    passDir: join(workDir, 'p'),
    helperName: `pass-login-${id}`,
  };
  const socket = join(paths.gnupgHome, LONGEST_AGENT_SOCKET);
  if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
    throw new Error(
      `RUNNER_TEMP '${runnerTemp}' is too long: the gpg-agent socket '${socket}' would be ` +
        `${Buffer.byteLength(socket)} bytes, over the ${MAX_SOCKET_PATH} that unix sockets allow. ` +
        'Move the runner to a folder with a shorter path.',
    );
  }
  return paths;
}
