import { describe, expect, it } from 'vitest';
import { DOCKER_HUB_SERVER, parseRegistry } from '../../src/registry.js';

describe('parseRegistry', () => {
  it.each([
    ['', DOCKER_HUB_SERVER],
    ['docker.io', DOCKER_HUB_SERVER],
    ['Docker.IO', DOCKER_HUB_SERVER],
    ['index.docker.io', DOCKER_HUB_SERVER],
    ['registry-1.docker.io', DOCKER_HUB_SERVER],
    ['https://index.docker.io/v1/', DOCKER_HUB_SERVER],
    ['https://index.docker.io/v1', DOCKER_HUB_SERVER],
    ['ghcr.io', 'ghcr.io'],
    ['https://ghcr.io/', 'ghcr.io'],
    ['http://ghcr.io', 'ghcr.io'],
    ['  quay.io  ', 'quay.io'],
    ['registry.gitlab.com', 'registry.gitlab.com'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
    ['localhost:5000', 'localhost:5000'],
    ['[::1]:5000', '[::1]:5000'],
    ['[fe80::1%eth0]:443', '[fe80::1%eth0]:443'],
    [
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
    ],
    ['europe-docker.pkg.dev', 'europe-docker.pkg.dev'],
  ])('maps %j to %j', (input, server) => {
    expect(parseRegistry(input).server).toBe(server);
  });

  it.each([
    ['ghcr.io/org/app', /without a path.*'ghcr\.io'/],
    ['my registry', /white space/],
    ['https://', /host is empty/],
    ['host:99999', /expected a host name/],
    ['host:', /expected a host name/],
    ['-bad.example', /expected a host name/],
    ['[::1', /expected a host name/],
    ['ftp://ghcr.io', /reached over https, not ftp/],
  ])('rejects %j', (input, message) => {
    expect(() => parseRegistry(input)).toThrow(message);
  });

  it('names the value in the error', () => {
    expect(() => parseRegistry('ghcr.io/org')).toThrow("Invalid registry 'ghcr.io/org'");
  });
});
