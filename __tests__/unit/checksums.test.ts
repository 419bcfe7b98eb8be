import { describe, expect, it } from 'vitest';
import { parseChecksums } from '../../src/checksums.js';

const DIGEST_A = 'a'.repeat(64);
const DIGEST_B = 'B'.repeat(64);

describe('parseChecksums', () => {
  it('reads binary-mode and text-mode lines', () => {
    const text = [
      `${DIGEST_A} *docker-credential-pass-v0.9.8.linux-amd64`,
      `${DIGEST_B}  docker-credential-pass-v0.9.8.linux-arm64`,
      '',
    ].join('\n');
    const digests = parseChecksums(text);
    expect(digests.get('docker-credential-pass-v0.9.8.linux-amd64')).toBe(DIGEST_A);
    expect(digests.get('docker-credential-pass-v0.9.8.linux-arm64')).toBe('b'.repeat(64));
    expect(digests.size).toBe(2);
  });

  it('accepts CRLF line ends', () => {
    const digests = parseChecksums(`${DIGEST_A} *file-one\r\n${DIGEST_A} *file-two\r\n`);
    expect([...digests.keys()]).toEqual(['file-one', 'file-two']);
  });

  it('rejects a short digest with the line number', () => {
    expect(() => parseChecksums(`${DIGEST_A} *ok\nabc123 *bad\n`)).toThrow(/line 2/);
  });

  it('rejects a line without a file name', () => {
    expect(() => parseChecksums(`${DIGEST_A}\n`)).toThrow(/line 1/);
  });

  it('rejects two different digests for one file', () => {
    expect(() => parseChecksums(`${DIGEST_A} *file\n${'c'.repeat(64)} *file\n`)).toThrow(
      /line 2 gives file a second, different checksum/,
    );
  });

  it('returns nothing for an empty file', () => {
    expect(parseChecksums('').size).toBe(0);
  });
});
