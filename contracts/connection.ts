/**
 * Connecting to a chain: any Ethereum JSON-RPC URL (Besu QBFT in production, anvil embedded),
 * the chain id checked against configuration, signers that sign locally (Wallet +
 * eth_sendRawTransaction, never a node's unlocked accounts).
 */
import { readFileSync } from 'node:fs';
import { FetchRequest, JsonRpcProvider, Network, NonceManager, Wallet, type Signer } from 'ethers';

export interface ChainConnectionOptions {
  readonly rpcUrl: string;
  /** Expected chain id: the connection fails if the node reports another one. */
  readonly chainId?: number | bigint;
  /** How often ethers polls for receipts and blocks (ms); a little under the block time. */
  readonly pollingInterval?: number;
}

export class ChainIdMismatchError extends Error {
  constructor(expected: bigint, actual: bigint) {
    super(`chain id mismatch: configured ${expected}, the node at the RPC URL reports ${actual}`);
    this.name = 'ChainIdMismatchError';
  }
}

/**
 * A provider tuned for an authorization hot path and a PoA chain: static network (no chain-id
 * round trip per call), no request batching stall, short polling.
 */
export async function connectChain(options: ChainConnectionOptions): Promise<{ provider: JsonRpcProvider; chainId: bigint }> {
  const actual = await rpcChainId(options.rpcUrl);
  if (options.chainId !== undefined && BigInt(options.chainId) !== actual) {
    throw new ChainIdMismatchError(BigInt(options.chainId), actual);
  }
  const provider = new JsonRpcProvider(options.rpcUrl, Network.from(actual), {
    staticNetwork: true,
    batchStallTime: 0,
    cacheTimeout: -1,
    pollingInterval: options.pollingInterval ?? 250,
  });
  return { provider, chainId: actual };
}

/** `eth_chainId` over plain HTTP (so a wrong URL fails fast instead of ethers retrying forever). */
export async function rpcChainId(rpcUrl: string, timeoutMs = 5000): Promise<bigint> {
  return BigInt(await jsonRpc<string>(rpcEndpoint(rpcUrl), 'eth_chainId', [], timeoutMs));
}

/**
 * Where raw JSON-RPC requests go: the URL, credentials and headers an ethers provider uses
 * (`provider._getConnection()`, or the RPC URL it was made from). The runtime's fetch refuses a
 * URL with credentials, so `https://user:pass@host` becomes the bare URL plus a Basic header.
 */
export interface RpcEndpoint {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
}

export function rpcEndpoint(connection: string | FetchRequest): RpcEndpoint {
  const request = typeof connection === 'string' ? new FetchRequest(connection) : connection;
  const url = new URL(request.url);
  // The getter includes an Authorization header for `setCredentials()`; fetch negotiates encoding itself.
  const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== 'accept-encoding' && name !== 'content-length'));
  if ((url.username || url.password) && headers.authorization === undefined) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  }
  url.username = '';
  url.password = '';
  return { url: url.href, headers };
}

let rpcId = 0;

/**
 * One JSON-RPC call with the runtime's fetch (raw: no ethers decoding, see raw-logs.ts). Errors
 * name the method and the endpoint's origin only: no credentials, no path (API keys live there).
 */
export async function jsonRpc<T>(endpoint: RpcEndpoint, method: string, params: readonly unknown[], timeoutMs: number): Promise<T> {
  const where = new URL(endpoint.url).origin;
  let response: Response;
  try {
    response = await fetch(endpoint.url, {
      method: 'POST',
      headers: { ...endpoint.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method, params }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    const e = error as Error;
    throw new Error(`${method} failed at ${where}: ${e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : `cannot reach the chain (${e.message})`}`);
  }
  const body = (await response.json().catch(() => ({}))) as { result?: T; error?: { message: string } };
  if (body.result === undefined) throw new Error(`${method} failed at ${where}: ${body.error?.message ?? `HTTP ${response.status}`}`);
  return body.result;
}

/**
 * A signer for a private key (0x hex) that tracks its nonces locally, so several transactions can
 * be in flight at once from one process.
 */
export function keySigner(privateKey: string, provider: JsonRpcProvider): NonceManager {
  return new NonceManager(new Wallet(normaliseKey(privateKey), provider));
}

/** A signer from an encrypted JSON keystore file (geth/ethers format). */
export async function keystoreSigner(file: string, password: string, provider: JsonRpcProvider): Promise<NonceManager> {
  const wallet = await Wallet.fromEncryptedJson(readFileSync(file, 'utf8'), password);
  return new NonceManager(wallet.connect(provider));
}

/** The address of a signer. */
export async function addressOf(signer: Signer): Promise<string> {
  return signer.getAddress();
}

function normaliseKey(key: string): string {
  const trimmed = key.trim();
  const hex = trimmed.startsWith('0x') ? trimmed : `0x${trimmed}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new Error('a private key must be 32 bytes of hex');
  return hex;
}
