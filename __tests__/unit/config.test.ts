import { describe, expect, it } from 'vitest';
import { buildConfig, shellQuote } from '../../src/docker-config.js';
import { credentialMismatch } from '../../src/login.js';
import { planPaths } from '../../src/paths.js';
import { parseGpgVersion } from '../../src/preflight.js';

describe('buildConfig', () => {
  const user = {
    auths: { 'old.example': { auth: 'dXNlcjpwYXNz' } },
    proxies: { default: { httpProxy: 'http://proxy:3128' } },
    credHelpers: { 'gcr.io': 'gcloud', 'ghcr.io': 'desktop' },
    currentContext: 'remote',
  };

  it('drops auths and keeps the other settings', () => {
    const config = buildConfig(user, ['ghcr.io'], 'pass-login-1');
    expect(config.auths).toBeUndefined();
    expect(config.proxies).toEqual(user.proxies);
    expect(config.currentContext).toBe('remote');
  });

  it('routes the servers through the helper and keeps other helpers', () => {
    const config = buildConfig(user, ['ghcr.io'], 'pass-login-1');
    expect(config.credHelpers).toEqual({ 'gcr.io': 'gcloud', 'ghcr.io': 'pass-login-1' });
  });

  it('drops own helpers whose wrapper is gone', () => {
    const stale = { credHelpers: { 'a.example': 'pass-login-0123abcd', 'b.example': 'gcloud' } };
    const config = buildConfig(stale, ['c.example'], 'pass-login-1', false, () => false);
    expect(config.credHelpers).toEqual({ 'b.example': 'gcloud', 'c.example': 'pass-login-1' });
  });

  it('keeps own helpers whose wrapper is on PATH', () => {
    const live = { credHelpers: { 'a.example': 'pass-login-0123abcd' } };
    const config = buildConfig(live, ['c.example'], 'pass-login-1', false, () => true);
    expect(config.credHelpers?.['a.example']).toBe('pass-login-0123abcd');
  });

  it('does not modify the user config object', () => {
    buildConfig(user, ['ghcr.io'], 'pass-login-1');
    expect(user.credHelpers['ghcr.io']).toBe('desktop');
  });
});

describe('shellQuote', () => {
  it('quotes single quotes', () => {
    expect(shellQuote("/tmp/it's")).toBe(`'/tmp/it'\\''s'`);
  });
});

describe('credentialMismatch', () => {
  const login = {
    registry: { input: 'r.example', server: 'r.example' },
    username: 'alice',
    password: 'pw\n',
  };

  it('accepts the stored credential without the trailing newline', () => {
    const stdout = JSON.stringify({ ServerURL: 'r.example', Username: 'alice', Secret: 'pw' });
    expect(credentialMismatch(0, stdout, login)).toBeUndefined();
  });

  it.each([
    [1, '', /exited with code 1/],
    [0, 'not json', /not JSON/],
    [0, JSON.stringify({ Username: 'bob', Secret: 'pw' }), /another user name/],
    [0, JSON.stringify({ Username: 'alice', Secret: 'other' }), /another secret/],
  ])('reports exit %i output %j', (exitCode, stdout, message) => {
    expect(credentialMismatch(exitCode, stdout, login)).toMatch(message);
  });
});

describe('planPaths', () => {
  it('plans short folders under RUNNER_TEMP', () => {
    const paths = planPaths('/home/runner/work/_temp');
    expect(paths.workDir).toMatch(/^\/home\/runner\/work\/_temp\/dpl-[0-9a-f]{8}$/);
    expect(paths.gnupgHome).toBe(`${paths.workDir}/g`);
    expect(paths.helperName).toBe(`pass-login-${paths.id}`);
  });

  it('rejects a missing RUNNER_TEMP', () => {
    expect(() => planPaths(undefined)).toThrow(/RUNNER_TEMP is not set/);
  });

  it('rejects a RUNNER_TEMP too long for the agent socket', () => {
    expect(() => planPaths(`/${'x'.repeat(90)}`)).toThrow(/too long.*106/);
  });
});

describe('parseGpgVersion', () => {
  it('reads GnuPG 2.2 and 2.4', () => {
    expect(parseGpgVersion('gpg (GnuPG) 2.2.40\nlibgcrypt 1.10.1')).toEqual([2, 2, 40]);
    expect(parseGpgVersion('gpg (GnuPG/MacGPG2) 2.4.4\n')).toEqual([2, 4, 4]);
  });

  it('returns undefined for other output', () => {
    expect(parseGpgVersion('something else')).toBeUndefined();
  });
});
