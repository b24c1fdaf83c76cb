/**
 * A loopback HTTP proxy in front of a JSON-RPC node (anvil), for tests. It can demand Basic
 * credentials, as a node behind an authenticating gateway does, and it can hold the requests
 * calling one method until the test releases them (to make something happen mid-run).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RpcProxy {
  /** The proxy's URL, without credentials. */
  readonly url: string;
  /** Requests refused for want of the right credentials. */
  readonly refused: number;
  /** Holds every request calling `method` until `release()`; resolves when the first arrives. */
  hold(method: string): Promise<void>;
  release(): void;
  close(): Promise<void>;
}

export interface RpcProxyOptions {
  /** When set, a request without exactly these Basic credentials gets 401. */
  readonly credentials?: { readonly user: string; readonly password: string };
}

export async function startRpcProxy(target: string, options: RpcProxyOptions = {}): Promise<RpcProxy> {
  const expected = options.credentials ? `Basic ${Buffer.from(`${options.credentials.user}:${options.credentials.password}`).toString('base64')}` : undefined;
  let refused = 0;
  let held: { method: string; arrived: () => void; released: Promise<void>; release: () => void } | undefined;
  const server = createServer(async (request, response) => {
    const body = await read(request);
    if (expected && request.headers.authorization !== expected) {
      refused++;
      response.writeHead(401, { 'www-authenticate': 'Basic realm="rpc"' }).end();
      return;
    }
    if (held && body.includes(`"method":"${held.method}"`)) {
      held.arrived();
      await held.released;
    }
    const answer = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    response.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get refused() {
      return refused;
    },
    hold(method) {
      return new Promise<void>((arrived) => {
        let release = () => {};
        const released = new Promise<void>((resolve) => (release = resolve));
        held = { method, arrived, released, release };
      });
    },
    release() {
      held?.release();
      held = undefined;
    },
    close() {
      held?.release();
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function read(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
