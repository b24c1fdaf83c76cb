/**
 * Connecting to a chain: any Ethereum JSON-RPC URL (Besu QBFT in production, anvil embedded),
 * the chain id checked against configuration, signers that sign locally (Wallet +
 * eth_sendRawTransaction, never a node's unlocked accounts).
 */
import { readFileSync } from 'node:fs';
import { JsonRpcProvider, Network, NonceManager, Wallet, type Signer } from 'ethers';

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
  let response: Response;
  try {
    response = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new Error(`cannot reach the chain at ${rpcUrl}: ${(error as Error).message}`);
  }
  const body = (await response.json()) as { result?: string; error?: { message: string } };
  if (!body.result) throw new Error(`eth_chainId failed at ${rpcUrl}: ${body.error?.message ?? response.status}`);
  return BigInt(body.result);
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
