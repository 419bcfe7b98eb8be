/**
 * An HTTP reverse proxy on 127.0.0.1 in front of a test registry, which counts requests and can
 * respond to the next requests with a server error, a connection reset or not at all.
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type ProxyFault =
  /** Responds with this status and a short text body. */
  | { type: 'status'; status: number }
  /** Resets the TCP connection (RST) as soon as the request headers arrive. */
  | { type: 'reset' }
  /** Accepts the request and never responds, until `stop()`. */
  | { type: 'hang' };

export interface ProxyRequest {
  method: string;
  /** Path and query, e.g. `/v2/`. */
  path: string;
  /** True when the request carries an `Authorization` header. */
  authorized: boolean;
  /** The fault applied to this request, or undefined when it was forwarded. */
  fault: ProxyFault['type'] | undefined;
  /** `Date.now()` when the request headers arrived. */
  receivedAt: number;
}

export interface RegistryProxy {
  /** `127.0.0.1:<port>`, the registry name to give docker and the action. */
  address: string;
  /** Every HTTP request received, in order. TLS handshakes that fail to parse are not listed. */
  requests: ProxyRequest[];
  /** Applies `fault` to the next `count` requests, then forwards requests again. */
  setFault(fault: ProxyFault, count?: number): void;
  clearFault(): void;
  stop(): Promise<void>;
}

/**
 * Starts a proxy that forwards every request to the registry at `target` (`host:port`). The Host
 * header is passed on unchanged, so that upload URLs that the registry returns point back at the
 * proxy.
 */
export async function startRegistryProxy(target: string): Promise<RegistryProxy> {
  const [targetHost, targetPort] = splitAddress(target);
  const requests: ProxyRequest[] = [];
  const sockets = new Set<Socket>();
  let fault: ProxyFault | undefined;
  let remaining = 0;

  const forward = (incoming: IncomingMessage, respond: ServerResponse) => {
    const upstream = httpRequest(
      {
        host: targetHost,
        port: targetPort,
        method: incoming.method,
        path: incoming.url,
        headers: incoming.headers,
      },
      (answer) => {
        respond.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(respond);
      },
    );
    upstream.on('error', () => incoming.socket.destroy());
    incoming.pipe(upstream);
  };

  const server = createServer((incoming, response) => {
    const active = remaining > 0 ? fault : undefined;
    if (active) remaining -= 1;
    requests.push({
      method: incoming.method ?? 'GET',
      path: incoming.url ?? '/',
      authorized: incoming.headers.authorization !== undefined,
      fault: active?.type,
      receivedAt: Date.now(),
    });
    if (active?.type === 'hang') return;
    if (active?.type === 'reset') {
      incoming.socket.resetAndDestroy();
      return;
    }
    if (active?.type === 'status') {
      const body = `status ${active.status} set by the test\n`;
      response.writeHead(active.status, { 'Content-Type': 'text/plain' });
      response.end(body);
      return;
    }
    forward(incoming, response);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;

  return {
    address: `127.0.0.1:${port}`,
    requests,
    setFault: (next, count = Number.POSITIVE_INFINITY) => {
      fault = next;
      remaining = count;
    },
    clearFault: () => {
      fault = undefined;
      remaining = 0;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function splitAddress(address: string): [string, number] {
  const colon = address.lastIndexOf(':');
  return [address.slice(0, colon), Number(address.slice(colon + 1))];
}
