/** Asset suffixes that docker/docker-credential-helpers publishes for docker-credential-pass. */
export const HELPER_PLATFORMS = [
  'linux-amd64',
  'linux-arm64',
  'linux-armv7',
  'linux-armv6',
  'linux-ppc64le',
  'linux-s390x',
  'darwin-amd64',
  'darwin-arm64',
] as const;

/** Node's `process.arch` values with one asset name, whatever the system. */
const NODE_ARCH_TO_ASSET: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

export type HelperPlatform = (typeof HELPER_PLATFORMS)[number];

/**
 * Maps Node's platform and architecture to the release asset suffix. `armVersion` is Node's
 * `process.config.variables.arm_version` ('6' or '7') on 32-bit ARM. Throws on a system or an
 * architecture that has no docker-credential-pass asset.
 */
export function helperPlatform(
  platform: NodeJS.Platform,
  arch: string,
  armVersion?: string,
): HelperPlatform {
  if (platform === 'win32') {
    throw new Error(
      'This action does not run on Windows: docker-credential-helpers publishes no pass helper ' +
        'for Windows. Use docker-credential-wincred there.',
    );
  }
  if (platform !== 'linux' && platform !== 'darwin') {
    throw new Error(`This action does not run on ${platform}: no docker-credential-pass exists.`);
  }
  let suffix: string | undefined = NODE_ARCH_TO_ASSET[arch];
  if (arch === 'arm') suffix = armVersion === '6' ? 'armv6' : 'armv7';
  const candidate = `${platform}-${suffix}`;
  if (suffix === undefined || !(HELPER_PLATFORMS as readonly string[]).includes(candidate)) {
    throw new Error(
      `No docker-credential-pass release asset exists for ${platform} on ${arch}. ` +
        `Assets exist for ${HELPER_PLATFORMS.join(', ')}.`,
    );
  }
  return candidate as HelperPlatform;
}
