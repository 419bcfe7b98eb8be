/** The key the docker CLI uses for Docker Hub credentials, in config.json and with helpers. */
export const DOCKER_HUB_SERVER = 'https://index.docker.io/v1/';

const DOCKER_HUB_NAMES = new Set(['', 'docker.io', 'index.docker.io', 'registry-1.docker.io']);

export interface Registry {
  /** The value as the user wrote it, for messages. */
  input: string;
  /** The server key: what `docker login` stores and what the helper is asked for. */
  server: string;
}

/**
 * Normalises a registry name the way the docker CLI looks credentials up.
 *
 * Docker Hub, under any of its names, becomes `https://index.docker.io/v1/`. Other registries
 * lose a scheme and a trailing slash and keep a port or an IPv6 literal such as `[::1]:5000`.
 * Throws when the value is not a registry host, naming the value.
 */
export function parseRegistry(input: string): Registry {
  const value = input.trim();
  if (/\s/.test(value)) {
    throw new Error(`Invalid registry '${input}': it contains white space.`);
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value)?.[1];
  if (scheme !== undefined && !/^https?$/i.test(scheme)) {
    throw new Error(
      `Invalid registry '${input}': a registry is reached over https, not ${scheme}.`,
    );
  }
  const withoutScheme = value.replace(/^https?:\/\//i, '');
  const hostAndPath = withoutScheme.replace(/\/+$/, '');
  const lowerCased = hostAndPath.toLowerCase();

  if (value.length > 0 && hostAndPath.length === 0) {
    throw new Error(`Invalid registry '${input}': the host is empty.`);
  }
  if (DOCKER_HUB_NAMES.has(lowerCased) || lowerCased === 'index.docker.io/v1') {
    return { input, server: DOCKER_HUB_SERVER };
  }
  const slash = hostAndPath.indexOf('/');
  if (slash !== -1) {
    const host = hostAndPath.slice(0, slash);
    throw new Error(
      `Invalid registry '${input}': a registry is a host with an optional port, without a path. ` +
        `Use '${host}' and put '${hostAndPath.slice(slash)}' in the image name.`,
    );
  }
  if (!isHostWithPort(hostAndPath)) {
    throw new Error(
      `Invalid registry '${input}': expected a host name, an IPv4 address or a bracketed IPv6 ` +
        `address, optionally followed by ':port'.`,
    );
  }
  return { input, server: hostAndPath };
}

function isHostWithPort(value: string): boolean {
  const port = '(?::([0-9]{1,5}))?';
  const ipv6 = new RegExp(`^\\[[0-9A-Fa-f:.]+(?:%[\\w.]+)?\\]${port}$`);
  const name = new RegExp(`^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?${port}$`);
  const match = ipv6.exec(value) ?? name.exec(value);
  if (!match) return false;
  const portNumber = match[1] === undefined ? 1 : Number(match[1]);
  return portNumber >= 1 && portNumber <= 65535;
}
