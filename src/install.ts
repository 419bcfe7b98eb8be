import { createHash, randomUUID } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { KNOWN_DIGESTS, parseChecksums } from './checksums.js';
import type { HelperPlatform } from './platform.js';

const HELPER_NAME = 'docker-credential-pass';
/** Written next to a cached tool: the sha256 of the file it was verified by when cached. */
const DIGEST_FILE = 'verified.sha256';

/** The pass release downloaded where pass is not installed, and its published sha256. */
export const PASS_RELEASE = {
  version: '1.7.4',
  file: 'password-store-1.7.4.tar.xz',
  sha256: 'cfa9faf659f2ed6b38e7a7c3fb43e177d00edbacc6265e6e32215ff40e3793c0',
};
const PASS_TOOL_NAME = 'password-store';
/** pass is a shell script, so one cache entry serves every architecture. */
const PASS_ARCH = 'any';
const PASS_SCRIPT = join('src', 'password-store.sh');

export interface InstalledTool {
  path: string;
  digest: string;
  source: 'tool cache' | 'download';
  url: string;
}

// Every download goes to a `scratchDir` inside the action's own folder, so that post removes a
// partial file that a cancelled main step leaves behind.

/**
 * Returns a verified docker-credential-pass for `platform`: from the tool cache when its digest
 * still matches, otherwise downloaded from `mirror`, verified before it is ever made executable,
 * and cached.
 */
export async function installHelper(
  version: string,
  mirror: string,
  platform: HelperPlatform,
  scratchDir: string,
): Promise<InstalledTool> {
  const asset = `${HELPER_NAME}-${version}.${platform}`;
  const url = `${mirror}/${version}/${asset}`;
  const cacheVersion = version.replace(/^v/, '');
  const known = KNOWN_DIGESTS[version]?.[asset];

  const cached = await findVerified(HELPER_NAME, cacheVersion, platform, HELPER_NAME, known);
  if (cached) return { ...cached, source: 'tool cache', url };

  const expected = known ?? (await fetchPublishedDigest(mirror, version, asset, scratchDir));
  const downloaded = await downloadVerified(url, expected, `release ${version}`, scratchDir);
  await chmod(downloaded, 0o755);
  const dir = await tc.cacheFile(downloaded, HELPER_NAME, HELPER_NAME, cacheVersion, platform);
  await rm(downloaded, { force: true });
  await writeFile(join(dir, DIGEST_FILE), `${expected}\n`, { mode: 0o644 });
  return { path: join(dir, HELPER_NAME), digest: expected, source: 'download', url };
}

/**
 * Returns pass 1.7.4's `src/password-store.sh` for runners without pass: from the tool cache, or
 * from the release tarball at `mirror`, verified against its published sha256 and unpacked.
 * The tarball runs unpacked; it needs bash, GNU getopt, gpg and coreutils.
 */
export async function installPass(mirror: string, scratchDir: string): Promise<InstalledTool> {
  const url = `${mirror}/${PASS_RELEASE.file}`;
  const { version } = PASS_RELEASE;
  const cached = await findVerified(PASS_TOOL_NAME, version, PASS_ARCH, PASS_SCRIPT, undefined);
  if (cached) return { ...cached, source: 'tool cache', url };

  const tarball = await downloadVerified(url, PASS_RELEASE.sha256, `pass ${version}`, scratchDir);
  let extracted: string;
  try {
    extracted = await tc.extractTar(tarball, join(scratchDir, 'pass'), 'xJ');
  } catch (error) {
    throw new Error(
      `Unpacking ${PASS_RELEASE.file} failed: ${(error as Error).message}. It needs tar and xz.`,
    );
  } finally {
    await rm(tarball, { force: true });
  }
  const root = join(extracted, `password-store-${version}`);
  const digest = await sha256File(join(root, PASS_SCRIPT));
  const dir = await tc.cacheDir(root, PASS_TOOL_NAME, version, PASS_ARCH);
  await rm(extracted, { recursive: true, force: true });
  await writeFile(join(dir, DIGEST_FILE), `${digest}\n`, { mode: 0o644 });
  return { path: join(dir, PASS_SCRIPT), digest, source: 'download', url };
}

/**
 * Looks a tool up in the tool cache and checks `file` against the digest recorded when it was
 * cached (and against `known`, where the action carries one). A mismatch is a corrupted or
 * altered entry: it is removed, with a warning, so that the caller downloads it again.
 */
async function findVerified(
  tool: string,
  version: string,
  arch: string,
  file: string,
  known: string | undefined,
): Promise<{ path: string; digest: string } | undefined> {
  const dir = tc.find(tool, version, arch);
  if (!dir) return undefined;
  const path = join(dir, file);
  const recorded = await readFile(join(dir, DIGEST_FILE), 'utf8').then(
    (text) => text.trim(),
    () => undefined,
  );
  const actual = await sha256File(path).catch(() => undefined);
  if (actual !== undefined && actual === recorded && (known === undefined || actual === known)) {
    return { path, digest: actual };
  }
  core.warning(
    `The cached ${tool} ${version} in ${dir} does not match the digest recorded when it was ` +
      'cached; removing it and downloading it again.',
  );
  await rm(dir, { recursive: true, force: true });
  await rm(`${dir}.complete`, { force: true });
  return undefined;
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
  // @actions/tool-cache sets no socket timeout, so a server that stops responding would hang the step.
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`Download of ${url} timed out after ${DOWNLOAD_TIMEOUT_MS / 1000} s.`));
    }, DOWNLOAD_TIMEOUT_MS);
  });
  try {
    return await Promise.race([tc.downloadTool(url, join(scratchDir, randomUUID())), timeout]);
  } catch (error) {
    if ((error as Error).message.includes('timed out after')) throw error;
    const status = (error as tc.HTTPError).httpStatusCode;
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
