import { describe, expect, it } from 'vitest';
import { helperPlatform } from '../../src/platform.js';

describe('helperPlatform', () => {
  it.each([
    ['linux', 'x64', undefined, 'linux-amd64'],
    ['linux', 'arm64', undefined, 'linux-arm64'],
    ['linux', 'arm', '7', 'linux-armv7'],
    ['linux', 'arm', '6', 'linux-armv6'],
    ['linux', 'ppc64', undefined, 'linux-ppc64le'],
    ['linux', 's390x', undefined, 'linux-s390x'],
    ['darwin', 'x64', undefined, 'darwin-amd64'],
    ['darwin', 'arm64', undefined, 'darwin-arm64'],
  ] as const)('maps %s %s (arm %s) to %s', (platform, arch, armVersion, expected) => {
    expect(helperPlatform(platform, arch, armVersion)).toBe(expected);
  });

  it('rejects Windows with the reason', () => {
    expect(() => helperPlatform('win32', 'x64')).toThrow(/no pass helper for Windows/);
  });

  it.each([
    ['linux', 'riscv64'],
    ['linux', 'ia32'],
    ['darwin', 's390x'],
  ] as const)('rejects %s %s without an asset', (platform, arch) => {
    expect(() => helperPlatform(platform, arch)).toThrow(/No docker-credential-pass release asset/);
  });

  it('rejects other systems', () => {
    expect(() => helperPlatform('freebsd', 'x64')).toThrow(/does not run on freebsd/);
  });
});
