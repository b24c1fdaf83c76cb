/**
 * A loopback HTTP proxy in front of a JSON-RPC node (anvil), for tests. It can demand Basic
 * credentials, as a node behind an authenticating gateway does, and it can hold the requests
 * calling one method until the test releases them (to make something happen mid-run). A batch
 * that also calls other methods passes (another part of the process may share the batch).
 */
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RpcProxy {
  /** The proxy's URL, without credentials. */
  readonly url: string;
  /** Requests refused for want of the right credentials. */
  readonly refused: number;
  /**
   * Holds every request calling only `method` until `release()`, once `after` such calls have
   * passed (default 0); resolves when the first held one arrives.
   */
  hold(method: string, options?: { readonly after?: number }): Promise<void>;
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
  let held: { method: string; passing: number; arrived: () => void; released: Promise<void>; release: () => void } | undefined;
  const server = createServer(async (request, response) => {
    const body = await read(request);
    if (expected && request.headers.authorization !== expected) {
      refused++;
      response.writeHead(401, { 'www-authenticate': 'Basic realm="rpc"' }).end();
      return;
    }
    const hold = held;
    const methods = methodsOf(body);
    if (hold && methods.length > 0 && methods.every((m) => m === hold.method)) {
      hold.passing -= methods.length;
      if (hold.passing < 0) {
        hold.arrived();
        await hold.released;
      }
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
    hold(method, options = {}) {
      return new Promise<void>((arrived) => {
        let release = () => {};
        const released = new Promise<void>((resolve) => (release = resolve));
        held = { method, passing: options.after ?? 0, arrived, released, release };
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

/** The methods a JSON-RPC request or batch calls. */
function methodsOf(body: string): string[] {
  try {
    return [JSON.parse(body) as unknown].flat().map((call) => String((call as { method?: unknown }).method));
  } catch {
    return [];
  }
}

async function read(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
