/**
 * sha256 digests of docker-credential-pass release assets that this action carries, so that the
 * default download is checked against a value that does not come from the download server.
 * v0.9.8 linux-amd64: quoted by two independent public packaging scripts (an Arch Linux
 * PKGBUILD and a CI setup script) for the asset of the GitHub release.
 */
export const KNOWN_DIGESTS: Record<string, Record<string, string>> = {
  'v0.9.8': {
    'docker-credential-pass-v0.9.8.linux-amd64':
      '3ae93407d42dc90bd0393b0a50da3ce95246d3f30c3255225cb6b0401cd74cac',
  },
};

/**
 * Parses a release `checksums.txt`: one `<sha256> *<file name>` line per asset (the `*` marks
 * binary mode in sha256sum output; two spaces instead are accepted too). Returns lower-case
 * digests by file name. Throws on a line of another form, naming the line number.
 */
export function parseChecksums(text: string): Map<string, string> {
  const digests = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    const match = /^([0-9a-fA-F]{64}) [ *](\S.*)$/.exec(line.trim());
    if (!match) {
      throw new Error(`line ${index + 1} is not '<sha256> *<file name>'`);
    }
    const previous = digests.get(match[2]);
    if (previous !== undefined && previous !== match[1].toLowerCase()) {
      throw new Error(`line ${index + 1} gives ${match[2]} a second, different checksum`);
    }
    digests.set(match[2], match[1].toLowerCase());
  });
  return digests;
}
