import { createHash } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as core from '@actions/core';
import * as tc from '@actions/tool-cache';
import { KNOWN_DIGESTS, parseChecksums } from './checksums.js';
import type { HelperPlatform } from './platform.js';

const TOOL_NAME = 'docker-credential-pass';
/** Written next to the cached binary: the digest it was verified against when cached. */
const DIGEST_FILE = `${TOOL_NAME}.sha256`;

export interface InstalledHelper {
  path: string;
  digest: string;
  source: 'tool cache' | 'download';
  url: string;
}

/**
 * Returns a verified docker-credential-pass for `platform`: from the tool cache when its digest
 * still matches, otherwise downloaded from `mirror`, verified before it is ever made executable,
 * and cached.
 */
export async function installHelper(
  version: string,
  mirror: string,
  platform: HelperPlatform,
): Promise<InstalledHelper> {
  const asset = `${TOOL_NAME}-${version}.${platform}`;
  const url = `${mirror}/${version}/${asset}`;
  const cacheVersion = version.replace(/^v/, '');

  const cachedDir = tc.find(TOOL_NAME, cacheVersion, platform);
  if (cachedDir) {
    const cached = await verifyCached(cachedDir, version, asset);
    if (cached) return { path: cached.path, digest: cached.digest, source: 'tool cache', url };
    core.warning(
      `The cached ${asset} in ${cachedDir} does not match its recorded digest; downloading it again.`,
    );
    await rm(cachedDir, { recursive: true, force: true });
    await rm(`${cachedDir}.complete`, { force: true });
  }

  const expected =
    KNOWN_DIGESTS[version]?.[asset] ?? (await fetchPublishedDigest(mirror, version, asset));
  const downloaded = await download(url, version);
  const actual = await sha256File(downloaded);
  if (actual !== expected) {
    await rm(downloaded, { force: true });
    throw new Error(
      `Checksum mismatch for ${url}: expected sha256 ${expected}, got ${actual}. The file was ` +
        'deleted. Check helper-mirror and helper-version; a truncated download or a changed ' +
        'release asset gives this error.',
    );
  }
  await chmod(downloaded, 0o755);
  const dir = await tc.cacheFile(downloaded, TOOL_NAME, TOOL_NAME, cacheVersion, platform);
  await rm(downloaded, { force: true });
  await writeFile(join(dir, DIGEST_FILE), `${actual}\n`, { mode: 0o644 });
  return { path: join(dir, TOOL_NAME), digest: actual, source: 'download', url };
}

async function verifyCached(
  dir: string,
  version: string,
  asset: string,
): Promise<{ path: string; digest: string } | undefined> {
  const path = join(dir, TOOL_NAME);
  let recorded: string;
  try {
    recorded = (await readFile(join(dir, DIGEST_FILE), 'utf8')).trim();
  } catch {
    return undefined;
  }
  const expected = KNOWN_DIGESTS[version]?.[asset] ?? recorded;
  let actual: string;
  try {
    actual = await sha256File(path);
  } catch {
    return undefined;
  }
  return actual === expected && actual === recorded ? { path, digest: actual } : undefined;
}

async function fetchPublishedDigest(mirror: string, version: string, asset: string) {
  const url = `${mirror}/${version}/checksums.txt`;
  const file = await download(url, version);
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

async function download(url: string, version: string): Promise<string> {
  try {
    return await tc.downloadTool(url);
  } catch (error) {
    const status = (error as tc.HTTPError).httpStatusCode;
    if (status === 404) {
      throw new Error(
        `Download of ${url} failed: not found (HTTP 404). Check that release ${version} exists ` +
          'on helper-mirror and has this file.',
      );
    }
    const reason = status ? `HTTP ${status}` : (error as Error).message;
    throw new Error(`Download of ${url} failed: ${reason}. Check helper-mirror and the network.`);
  }
}

export async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}
