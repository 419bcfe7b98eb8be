import { describe, expect, it } from 'vitest';
import { classifyLoginFailure } from '../../src/login.js';

// Last lines of real `docker login` failures: docker CLI 28 logging in on the client side, and
// dockerd 20.10 responding for it.
const HTTP_NOTE =
  'time="2026-12-04T15:48:38Z" level=info msg="Error logging in to endpoint, trying next ' +
  'endpoint" error="Get \\"https://127.0.0.1:15000/v2/\\": http: server gave HTTP response to ' +
  'HTTPS client"';

describe('classifyLoginFailure', () => {
  it.each([
    [
      'login attempt to http://127.0.0.1:15000/v2/ failed with status: 401 Unauthorized',
      'rejected',
    ],
    [
      'Error response from daemon: Get "http://127.0.0.1:5000/v2/": unauthorized: authentication required',
      'rejected',
    ],
    ['Error response from daemon: denied: requested access to the resource is denied', 'rejected'],
    [
      'login attempt to http://127.0.0.1:15999/v2/ failed with status: 503 Service Unavailable',
      'server error',
    ],
    [
      'Error response from daemon: received unexpected HTTP status: 500 Internal Server Error',
      'server error',
    ],
    ['failed with status: 429 Too Many Requests', 'server error'],
    [
      'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused',
      'unreachable',
    ],
    [
      'Get "https://registry.invalid/v2/": dial tcp: lookup registry.invalid: no such host',
      'unreachable',
    ],
    [
      'Get "https://10.0.0.1/v2/": net/http: request canceled (Client.Timeout exceeded)',
      'unreachable',
    ],
    ['Get "http://127.0.0.1:5000/v2/": read: connection reset by peer', 'unreachable'],
    ['Get "http://127.0.0.1:5000/v2/": EOF', 'unreachable'],
    // dockerd 20.10 reports a registry that sends no response within 15 s in one of two ways.
    [
      'Error response from daemon: Get "http://127.0.0.1:5000/v2/": net/http: request canceled (Client.Timeout exceeded while awaiting headers)',
      'unreachable',
    ],
    [
      'Error response from daemon: Get "http://127.0.0.1:5000/v2/": context deadline exceeded',
      'unreachable',
    ],
    ['Cannot perform an interactive login from a non TTY device', 'other'],
  ])('classifies %j', (lastLine, kind) => {
    expect(classifyLoginFailure(`${HTTP_NOTE}\n${lastLine}\n`)).toBe(kind);
  });

  it('ignores endpoint notes before the final error', () => {
    const output = `${HTTP_NOTE}\nlogin attempt to http://127.0.0.1:15000/v2/ failed with status: 401 Unauthorized\n`;
    expect(classifyLoginFailure(output)).toBe('rejected');
  });
});
