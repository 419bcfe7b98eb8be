/**
 * A token server for a distribution registry with `auth: token`, as in the Docker Registry token
 * authentication specification: `GET <realm>?service=&scope=&account=` with Basic credentials
 * returns a JWT, signed with ES256, that grants the requested scopes. The registry trusts the
 * token when the signing key's certificate is in its `rootcertbundle`.
 *
 * Distribution 2.8 finds the signing key through one of three JOSE header fields, tried in
 * this order: `x5c` (a certificate chain that must verify against the bundle), `jwk`, or `kid`
 * (the libtrust fingerprint of a public key in the bundle). The server sends `x5c` or `kid`, as
 * `keyReference` selects.
 *
 * With `refreshTokens` it also follows the specification's `offline_token=true`: the GET response
 * then contains a `refresh_token`, and `POST <realm>` with the OAuth2 form
 * `grant_type=refresh_token` exchanges it for an access token, as the docker CLI and daemon do
 * with an identity token.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KeyPair } from './tls.js';

export type KeyReference = 'x5c' | 'kid';

export interface TokenRequest {
  method: string;
  /** Path and query as received. */
  path: string;
  /** The user of the Basic credentials, or undefined without any. */
  user: string | undefined;
  /** The `account` query parameter, or the `username` field of a password grant. */
  account: string | null;
  /** `grant_type` of a POST, or undefined for a GET. */
  grantType?: string;
  scopes: string[];
  /** True when the credentials matched and a token was issued. */
  granted: boolean;
}

export interface TokenServer {
  /** `http://127.0.0.1:<port>/token`, the registry's `auth.token.realm`. */
  realm: string;
  service: string;
  issuer: string;
  /** Every request received, in order. */
  requests: TokenRequest[];
  /** The header field that names the signing key in tokens issued from now on. */
  keyReference: KeyReference;
  /** Whether `offline_token=true` requests get a refresh token from now on. */
  refreshTokens: boolean;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  /** User name to password. */
  users: Record<string, string>;
  /** Key and self-signed certificate that sign the tokens. The registry's bundle needs the certificate. */
  signer: KeyPair;
  service: string;
  issuer: string;
  keyReference?: KeyReference;
  refreshTokens?: boolean;
}

/** Seconds a token is valid. */
const TOKEN_LIFETIME = 300;

/** Encodes bytes as base64url without padding, as JOSE does. */
function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * Returns the libtrust key ID of a public key: the SHA-256 of its DER SubjectPublicKeyInfo, cut
 * to 240 bits, in base32 without padding, in 12 groups of 4 characters joined by `:`. This is the
 * `kid` form that the registry's token specification (docs/spec/auth/jwt.md) describes.
 */
export function libtrustKeyId(spkiDer: Buffer): string {
  const digest = createHash('sha256').update(spkiDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const byte of digest) bits += byte.toString(2).padStart(8, '0');
  let encoded = '';
  for (let index = 0; index < bits.length; index += 5) {
    encoded += alphabet[parseInt(bits.slice(index, index + 5), 2)];
  }
  return encoded.match(/.{4}/g)!.join(':');
}

/** Parses a scope such as `repository:app:pull,push`, whose name may itself contain `:`. */
function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

function readBasic(header: string | undefined): { user: string; password: string } | undefined {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = Buffer.from(JSON.stringify(body));
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': text.length });
  response.end(text);
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function sendUnauthorized(response: ServerResponse): void {
  response.setHeader('WWW-Authenticate', 'Basic realm="harness-token-server"');
  sendJson(response, 401, {
    errors: [{ code: 'UNAUTHORIZED', message: 'invalid user name or password' }],
  });
}

/**
 * Starts the token server on 127.0.0.1. It grants every requested scope to a user whose Basic
 * password (or refresh token) matches. It responds with 401 to wrong or missing credentials, and with 400 to
 * other paths, another service, and POST grant types other than `password` and `refresh_token`.
 */
export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
  const privateKey = createPrivateKey(await readFile(options.signer.keyFile));
  const certificate = new X509Certificate(await readFile(options.signer.certFile));
  const certificateDer = Buffer.from(certificate.raw).toString('base64');
  const spki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  const keyId = libtrustKeyId(spki);
  const requests: TokenRequest[] = [];

  const issueToken = (subject: string, scopes: string[]): string => {
    const header =
      state.keyReference === 'x5c'
        ? { typ: 'JWT', alg: 'ES256', x5c: [certificateDer] }
        : { typ: 'JWT', alg: 'ES256', kid: keyId };
    const now = Math.floor(Date.now() / 1000);
    const access = scopes.map(parseScope).filter((scope) => scope !== undefined);
    const claims = {
      iss: options.issuer,
      sub: subject,
      aud: options.service,
      exp: now + TOKEN_LIFETIME,
      nbf: now - 10,
      iat: now,
      jti: randomBytes(12).toString('hex'),
      access,
    };
    const signingInput = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    // libtrust expects the JOSE form of an ECDSA signature: r and s, 32 bytes each.
    const signature = sign('sha256', Buffer.from(signingInput), {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return `${signingInput}.${base64url(signature)}`;
  };

  /** Refresh token to the user it was issued to. */
  const refreshTokens = new Map<string, string>();
  const passwordMatches = (user: string, password: string) =>
    Object.hasOwn(options.users, user) && options.users[user] === password;

  const grant = (response: ServerResponse, record: TokenRequest, offline: boolean) => {
    record.granted = true;
    const token = issueToken(record.user ?? '', record.scopes);
    const body: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: TOKEN_LIFETIME,
      issued_at: new Date().toISOString(),
    };
    if (offline && state.refreshTokens) {
      const refreshToken = randomBytes(24).toString('hex');
      refreshTokens.set(refreshToken, record.user ?? '');
      body.refresh_token = refreshToken;
    }
    sendJson(response, 200, body);
  };

  const handleGet = (url: URL, request: IncomingMessage, response: ServerResponse) => {
    const credentials = readBasic(request.headers.authorization);
    const record: TokenRequest = {
      method: 'GET',
      path: request.url ?? '/',
      user: credentials?.user,
      account: url.searchParams.get('account'),
      scopes: url.searchParams.getAll('scope'),
      granted: false,
    };
    requests.push(record);
    if (url.searchParams.get('service') !== options.service) {
      sendJson(response, 400, { errors: [{ code: 'DENIED', message: 'unknown service' }] });
      return;
    }
    if (!credentials || !passwordMatches(credentials.user, credentials.password)) {
      sendUnauthorized(response);
      return;
    }
    grant(response, record, url.searchParams.get('offline_token') === 'true');
  };

  const handlePost = async (request: IncomingMessage, response: ServerResponse) => {
    const form = new URLSearchParams(await readBody(request));
    const grantType = form.get('grant_type') ?? '';
    const record: TokenRequest = {
      method: 'POST',
      path: request.url ?? '/',
      user: undefined,
      account: form.get('username'),
      grantType,
      scopes: (form.get('scope') ?? '').split(' ').filter(Boolean),
      granted: false,
    };
    requests.push(record);
    if (form.get('service') !== options.service) {
      sendJson(response, 400, { errors: [{ code: 'DENIED', message: 'unknown service' }] });
      return;
    }
    if (grantType === 'refresh_token') {
      record.user = refreshTokens.get(form.get('refresh_token') ?? '');
      if (record.user === undefined) {
        sendUnauthorized(response);
        return;
      }
      grant(response, record, false);
      return;
    }
    if (grantType === 'password') {
      record.user = form.get('username') ?? undefined;
      if (!record.user || !passwordMatches(record.user, form.get('password') ?? '')) {
        sendUnauthorized(response);
        return;
      }
      grant(response, record, form.get('access_type') === 'offline');
      return;
    }
    sendJson(response, 400, { errors: [{ code: 'UNSUPPORTED', message: 'unknown grant_type' }] });
  };

  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/token') {
      requests.push({
        method: request.method ?? 'GET',
        path: request.url ?? '/',
        user: undefined,
        account: null,
        scopes: [],
        granted: false,
      });
      sendJson(response, 400, { errors: [{ code: 'UNSUPPORTED', message: 'use /token' }] });
    } else if (request.method === 'POST') {
      handlePost(request, response).catch(() => response.destroy());
    } else {
      handleGet(url, request, response);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  const state: TokenServer = {
    realm: `http://127.0.0.1:${port}/token`,
    service: options.service,
    issuer: options.issuer,
    requests,
    keyReference: options.keyReference ?? 'x5c',
    refreshTokens: options.refreshTokens ?? false,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return state;
}
