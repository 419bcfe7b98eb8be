import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { maskBasicAuth, maskSecret, scrub, stripTrailingNewline } from '../../src/secrets.js';

describe('secrets', () => {
  const written: string[] = [];
  beforeEach(() => {
    written.length = 0;
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it('scrubs the value, its lines, JSON and base64 forms', () => {
    const secret = '{\n  "private_key": "-----BEGIN KEY-----\\nabc"\n}';
    maskSecret(secret);
    const line = '"private_key": "-----BEGIN KEY-----\\nabc"';
    expect(scrub(`a ${secret} b`)).toBe('a *** b');
    expect(scrub(`log: ${line}`)).toBe('log: ***');
    expect(scrub(JSON.stringify({ Secret: secret }))).toBe('{"Secret":"***"}');
    expect(scrub(Buffer.from(secret).toString('base64'))).toBe('***');
  });

  it('does not mask short lines such as a lone brace', () => {
    maskSecret('{\nlong-enough-line\n}');
    expect(scrub('{ }')).toBe('{ }');
  });

  it('scrubs the base64 of user:password', () => {
    maskBasicAuth('octocat', 'token-123\n');
    expect(scrub(Buffer.from('octocat:token-123').toString('base64'))).toBe('***');
    expect(scrub(Buffer.from('octocat:token-123\n').toString('base64'))).toBe('***');
  });

  it.each([
    ['pw\n', 'pw'],
    ['pw\r\n', 'pw'],
    ['pw\n\n', 'pw\n'],
    ['a\nb', 'a\nb'],
    ['pw\r', 'pw'],
  ])('strips one trailing newline from %j as docker login does', (input, expected) => {
    expect(stripTrailingNewline(input)).toBe(expected);
  });
});
