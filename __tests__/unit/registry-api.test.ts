import { describe, expect, it } from 'vitest';
import { isLoopbackRegistry, parseChallenge } from '../../src/registry-api.js';

describe('parseChallenge', () => {
  it('reads a Bearer challenge with quoted parameters', () => {
    const header =
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"';
    expect(parseChallenge(header)).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.example/token',
        service: 'registry.example',
        scope: 'repository:a/b:pull',
      },
    });
  });

  it('reads a Basic challenge', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({
      scheme: 'basic',
      params: { realm: 'Registry Realm' },
    });
  });

  it('reads unquoted values and escapes', () => {
    expect(parseChallenge('Bearer realm=https://a/t, service="s\\"q"')?.params).toEqual({
      realm: 'https://a/t',
      service: 's"q',
    });
  });

  it('returns undefined for an empty header', () => {
    expect(parseChallenge('')).toBeUndefined();
  });
});

describe('isLoopbackRegistry', () => {
  it.each([
    ['127.0.0.1:5000', true],
    ['127.1.2.3', true],
    ['localhost:5000', true],
    ['[::1]:5000', true],
    ['ghcr.io', false],
    ['10.0.0.1:5000', false],
    ['127.example.com', false],
  ])('%s is loopback: %s', (server, expected) => {
    expect(isLoopbackRegistry(server)).toBe(expected);
  });
});
