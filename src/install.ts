import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import * as core from './actions-core.js';
import { KNOWN_DIGESTS, parseChecksums } from './checksums.js';
import type { HelperPlatform } from './platform.js';

// Downloads go to a scratch folder inside the action's work folder, so that post removes a
// partial file that a cancelled main step leaves behind. What runs is always a copy in the work
// folder, verified after copying: a tool-cache entry changed later, even while the job runs, is
// never executed.

const HELPER_NAME = 'docker-credential-pass';
/** Written next to a cached tool: the sha256 of the file it was verified by when cached. */
const DIGEST_FILE = 'verified.sha256';

/**
 * Loads @actions/tool-cache, only when something is downloaded or cached: it brings an HTTP
 * stack whose start-up a run from a warm cache need not pay.
 */
function toolCache() {
  return import('@actions/tool-cache');
}

/**
 * Returns the folder of a complete tool-cache entry, or '' when there is none. It is the lookup
 * that @actions/tool-cache's `find` makes for an exact version: `<cache>/<tool>/<version>/<arch>`
 * and a `.complete` marker beside it.
 */
function findCached(tool: string, version: string, arch: string): string {
  const root = process.env.RUNNER_TOOL_CACHE;
  if (!root) return '';
  const dir = join(root, tool, version, arch);
  return existsSync(`${dir}.complete`) && existsSync(dir) ? dir : '';
}

/** The pass release downloaded where pass is not installed, and its published sha256. */
export const PASS_RELEASE = {
  version: '1.7.4',
  file: 'password-store-1.7.4.tar.xz',
  sha256: 'cfa9faf659f2ed6b38e7a7c3fb43e177d00edbacc6265e6e32215ff40e3793c0',
};

/**
 * The files of the pass 1.7.4 tarball that run, with their sha256 as unpacked from the verified
 * tarball. password-store.sh also sources `platform/<system>.sh` from its own folder; the
 * tarball has one for macOS and none for Linux.
 */
const PASS_FILES: Record<string, string> = {
  'password-store.sh': 'b48d710a8da2473b83491bd3c1971256f4c17c067dab1e9a7a3ac453170bbcd7',
  'platform/darwin.sh': 'aeb06ca6edd0ab59f6c44805791f70e34123ff3b9edd176344d5ef379191b744',
};
const PASS_TOOL_NAME = 'password-store';
/** pass is a shell script, so one cache entry serves every architecture. */
const PASS_ARCH = 'any';

export interface InstalledTool {
  /** The verified copy in the work folder that the job runs. */
  path: string;
  digest: string;
  source: 'tool cache' | 'download';
  url: string;
}

/**
 * Installs a verified docker-credential-pass for `platform` as `<targetDir>/docker-credential-pass`.
 * It comes from the tool cache when the cached file matches the digest this action carries, or
 * else the one recorded when it was cached. Otherwise it is downloaded from `mirror`, verified
 * before it is ever made executable, and cached.
 */
export async function installHelper(
  version: string,
  mirror: string,
  platform: HelperPlatform,
  workDir: string,
  targetDir: string,
): Promise<InstalledTool> {
  const asset = `${HELPER_NAME}-${version}.${platform}`;
  const url = `${mirror}/${version}/${asset}`;
  const cacheVersion = version.replace(/^v/, '');
  const known = KNOWN_DIGESTS[version]?.[asset];
  const target = join(targetDir, HELPER_NAME);
  await mkdir(targetDir, { recursive: true, mode: 0o700 });

  const cachedDir = findCached(HELPER_NAME, cacheVersion, platform);
  let replaceCached = cachedDir === '';
  if (cachedDir) {
    const expected = known ?? (await recordedDigest(cachedDir));
    const problem = await copyVerified(join(cachedDir, HELPER_NAME), target, expected, 0o700);
    if (!problem) return { path: target, digest: expected as string, source: 'tool cache', url };
    core.warning(`Not using the cached ${asset} in ${cachedDir}: ${problem}. Downloading it.`);
    // This action caches an entry only with its digest inside, so an entry without one is left
    // from an interrupted copy or an older version, and is replaced like a corrupted one.
    replaceCached = true;
  }

  const scratch = join(workDir, 'download');
  const expected = known ?? (await fetchPublishedDigest(mirror, version, asset, scratch));
  const downloaded = await downloadVerified(url, expected, `release ${version}`, scratch);
  if (replaceCached) {
    // The digest goes into the folder before it is cached, so no job ever finds an entry that
    // is marked complete but has no digest.
    const stage = join(scratch, 'stage');
    await mkdir(stage, { recursive: true });
    await copyFile(downloaded, join(stage, HELPER_NAME));
    await writeFile(join(stage, DIGEST_FILE), `${expected}\n`);
    await cacheShared(
      async () => (await toolCache()).cacheDir(stage, HELPER_NAME, cacheVersion, platform),
      asset,
    );
  }
  await rename(downloaded, target);
  const problem = await copyVerified(target, target, expected, 0o700);
  if (problem)
    throw new Error(`The downloaded ${asset} changed after it was verified: ${problem}.`);
  return { path: target, digest: expected, source: 'download', url };
}

/**
 * Installs pass 1.7.4 for runners without pass as `<targetDir>/password-store.sh`, with its
 * macOS platform file: from the tool cache, or from the release tarball at `mirror`, verified
 * against its published sha256 and unpacked. Every file that runs is checked against the digest
 * of the verified tarball. It needs bash, GNU getopt, gpg and coreutils.
 */
export async function installPass(
  mirror: string,
  workDir: string,
  targetDir: string,
): Promise<InstalledTool> {
  const url = `${mirror}/${PASS_RELEASE.file}`;
  const { version } = PASS_RELEASE;
  const script = join(targetDir, 'password-store.sh');
  const result: InstalledTool = {
    path: script,
    digest: PASS_FILES['password-store.sh'],
    source: 'tool cache',
    url,
  };

  const cachedDir = findCached(PASS_TOOL_NAME, version, PASS_ARCH);
  if (cachedDir) {
    const problem = await copyPassFiles(join(cachedDir, 'src'), targetDir);
    if (!problem) return result;
    core.warning(
      `Not using the cached pass ${version} in ${cachedDir}: ${problem}. Downloading it.`,
    );
  }

  const scratch = join(workDir, 'download');
  const tarball = await downloadVerified(url, PASS_RELEASE.sha256, `pass ${version}`, scratch);
  const extracted = join(scratch, 'pass');
  try {
    await (await toolCache()).extractTar(tarball, extracted, 'xJ');
  } catch (error) {
    throw new Error(
      `Unpacking ${PASS_RELEASE.file} failed: ${(error as Error).message}. It needs tar and xz.`,
    );
  }
  const root = join(extracted, `password-store-${version}`);
  const problem = await copyPassFiles(join(root, 'src'), targetDir);
  if (problem)
    throw new Error(`The verified ${PASS_RELEASE.file} has an unexpected file: ${problem}.`);
  // A missing entry is added, and one whose files did not match is replaced.
  await cacheShared(
    async () => (await toolCache()).cacheDir(root, PASS_TOOL_NAME, version, PASS_ARCH),
    'pass',
  );
  return { ...result, source: 'download' };
}

async function copyPassFiles(sourceDir: string, targetDir: string): Promise<string | undefined> {
  for (const [file, digest] of Object.entries(PASS_FILES)) {
    const target = join(targetDir, file);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    const problem = await copyVerified(join(sourceDir, file), target, digest, 0o600);
    if (problem) return `${file}: ${problem}`;
  }
  return undefined;
}

/**
 * Copies `source` to `target` and checks the sha256 of the copy, which is what runs. Returns what
 * is wrong, or undefined when the copy is good.
 */
async function copyVerified(
  source: string,
  target: string,
  expected: string | undefined,
  mode: number,
): Promise<string | undefined> {
  if (expected === undefined) return 'no digest was recorded when it was cached';
  try {
    if (source !== target) await copyFile(source, target);
    const actual = await sha256File(target);
    if (actual !== expected) return `sha256 ${actual} does not match the expected ${expected}`;
    await chmod(target, mode);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

async function recordedDigest(dir: string): Promise<string | undefined> {
  const text = await readFile(join(dir, DIGEST_FILE), 'utf8').catch(() => undefined);
  const digest = text?.trim();
  return digest && /^[0-9a-f]{64}$/.test(digest) ? digest : undefined;
}

/** Caches for later jobs; a failure, such as a race with another job, only costs a download. */
async function cacheShared(cache: () => Promise<string>, what: string): Promise<void> {
  try {
    await cache();
  } catch (error) {
    core.warning(`Could not add ${what} to the tool cache: ${(error as Error).message}`);
  }
}

async function fetchPublishedDigest(
  mirror: string,
  version: string,
  asset: string,
  scratchDir: string,
) {
  const url = `${mirror}/${version}/checksums.txt`;
  const file = await download(url, `release ${version}`, scratchDir);
  let digests: Map<string, string>;
  try {
    digests = parseChecksums(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`Invalid ${url}: ${(error as Error).message}.`);
  } finally {
    await rm(file, { force: true });
  }
  const digest = digests.get(asset);
  if (!digest) throw new Error(`${url} lists no checksum for ${asset}.`);
  return digest;
}

/**
 * Downloads `url` and checks its sha256 before anything else touches the file. A mismatch
 * deletes the file and throws with both digests.
 */
async function downloadVerified(
  url: string,
  expected: string,
  what: string,
  scratchDir: string,
): Promise<string> {
  const file = await download(url, what, scratchDir);
  const actual = await sha256File(file);
  if (actual !== expected) {
    await rm(file, { force: true });
    throw new Error(
      `Checksum mismatch for ${url}: expected sha256 ${expected}, got ${actual}. The file was ` +
        'deleted. A truncated download, a wrong mirror or a changed release file gives this ' +
        'error.',
    );
  }
  return file;
}

/** Time for one download, with the retries of @actions/tool-cache (3 attempts, 10 to 20 s apart). */
const DOWNLOAD_TIMEOUT_MS = 180_000;

async function download(url: string, what: string, scratchDir: string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  // @actions/tool-cache sets no socket timeout, so a server that stops responding would hang.
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`Download of ${url} timed out after ${DOWNLOAD_TIMEOUT_MS / 1000} s.`));
    }, DOWNLOAD_TIMEOUT_MS);
  });
  try {
    const tc = await toolCache();
    return await Promise.race([tc.downloadTool(url, join(scratchDir, randomUUID())), timeout]);
  } catch (error) {
    if ((error as Error).message.includes('timed out after')) throw error;
    const status = (error as { httpStatusCode?: number }).httpStatusCode;
    if (status === 404) {
      throw new Error(
        `Download of ${url} failed: not found (HTTP 404). Check that ${what} exists on the ` +
          'mirror and has this file.',
      );
    }
    const reason = status ? `HTTP ${status}` : (error as Error).message;
    throw new Error(`Download of ${url} failed: ${reason}. Check the mirror URL and the network.`);
  } finally {
    clearTimeout(timer);
  }
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}
