import { randomBytes } from 'node:crypto';
import { basename, join } from 'node:path';

/**
 * Maximum agent socket path. sun_path is 108 bytes on Linux and 104 on macOS, but GnuPG 2.2.40
 * starts no agent on a 107-byte path here and does on a 106-byte one, so one more byte is kept
 * free. NOTE: the macOS value follows the same rule and was not measured.
 */
const MAX_SOCKET_PATH = process.platform === 'darwin' ? 102 : 106;
/** Socket name of maximum length among those gpg-agent creates in its home. */
const LONGEST_AGENT_SOCKET = 'S.gpg-agent.browser';

export interface WorkPaths {
  id: string;
  workDir: string;
  gnupgHome: string;
  storeDir: string;
  configDir: string;
  binDir: string;
  /** Folder of the verified docker-credential-pass that the wrapper runs. */
  helperDir: string;
  /** Folder of pass and its `pass` wrapper, used only where pass is not installed. */
  passDir: string;
  /** Folder of the `pass` shim that speeds up the helper's lookups. */
  shimDir: string;
  helperName: string;
}

/** Matches the name of a folder that planPaths creates, and captures its id. */
export const WORK_DIR_NAME = /^dpl-([0-9a-f]{8})$/;

/**
 * Returns the paths inside a work folder named by planPaths. Post derives them from the work
 * folder instead of reading each from the saved state, so that no state value can point it at a
 * folder outside its own.
 */
export function pathsIn(workDir: string): WorkPaths {
  const id = WORK_DIR_NAME.exec(basename(workDir))?.[1];
  if (id === undefined) throw new Error(`'${workDir}' is not a folder this action creates.`);
  return {
    id,
    workDir,
    gnupgHome: join(workDir, 'g'),
    storeDir: join(workDir, 's'),
    configDir: join(workDir, 'c'),
    binDir: join(workDir, 'b'),
    helperDir: join(workDir, 'h'),
    passDir: join(workDir, 'p'),
    shimDir: join(workDir, 'x'),
    helperName: `pass-login-${id}`,
  };
}

/**
 * Plans the private folders of this use of the action under RUNNER_TEMP. The names are short
 * because gpg-agent puts its sockets in the GnuPG home, and a socket path over 106 bytes makes
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
  const paths = pathsIn(join(runnerTemp, `dpl-${randomBytes(4).toString('hex')}`));
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
