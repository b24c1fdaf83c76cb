/**
 * What the web desks need of the chain: the four contracts (read through a provider), the relayer
 * that submits patients' signed actions (patients need no ether), and the providers' own signers
 * for the keys this node holds.
 */
import type { Provider } from 'ethers';
import type { SignedAction } from '../../../contracts/eip712.ts';
import type { ConsentContract } from '../../../contracts/bindings/Consent.ts';
import type { ParticipantDirectoryContract } from '../../../contracts/bindings/ParticipantDirectory.ts';
import type { ProviderRegistryContract } from '../../../contracts/bindings/ProviderRegistry.ts';
import type { RelationshipsContract } from '../../../contracts/bindings/Relationships.ts';
import { DeskError } from '../api/desks.ts';

export interface MedRecChain {
  readonly provider: Provider;
  readonly chainId: number;
  readonly registry: ProviderRegistryContract;
  readonly directory: ParticipantDirectoryContract;
  readonly relationships: RelationshipsContract;
  readonly consent: ConsentContract;
  /** Submits a patient's signed action (`...BySig`) with the node's relayer key, which pays the gas. */
  relay(action: SignedAction): Promise<{ readonly hash: string; readonly blockNumber: number }>;
}

/** A relayed action's outcome, with a revert turned into a message a person can act on. */
export async function relayed(chain: MedRecChain, action: SignedAction, explain: (name: string) => string): Promise<{ txHash: string; blockNumber: number }> {
  try {
    const outcome = await chain.relay(action);
    return { txHash: outcome.hash, blockNumber: outcome.blockNumber };
  } catch (error) {
    throw revertError(error, explain, chain.consent.interface);
  }
}

/** Reads a revert's custom error from its data (a signer's gas estimate reports only the raw data). */
export interface RevertDecoder {
  parseError(data: string): { readonly name: string } | null;
}

/**
 * Waits for a transaction and turns a revert into a message a person can act on; `contract` is the
 * one called, whose custom errors name the reason.
 */
export async function mined(
  send: () => Promise<{ hash: string; wait(): Promise<{ blockNumber: number } | null> }>,
  explain: (name: string) => string,
  contract: RevertDecoder,
): Promise<{ txHash: string; blockNumber: number }> {
  let tx: { hash: string; wait(): Promise<{ blockNumber: number } | null> };
  try {
    tx = await send();
  } catch (error) {
    throw revertError(error, explain, contract);
  }
  const receipt = await tx.wait().catch((error: unknown) => { throw revertError(error, explain, contract); });
  if (!receipt) throw new DeskError(502, 'The transaction was not mined.', 'Try again in a moment.');
  return { txHash: tx.hash, blockNumber: receipt.blockNumber };
}

function decodedName(data: unknown, contract: RevertDecoder): string | undefined {
  if (typeof data !== 'string' || data.length < 10) return undefined;
  try {
    return contract.parseError(data)?.name;
  } catch {
    return undefined;
  }
}

function revertError(error: unknown, explain: (name: string) => string, contract: RevertDecoder): DeskError {
  const e = error as { revert?: { name?: string }; errorName?: string; data?: unknown; shortMessage?: string; code?: string; message?: string };
  const name = e.revert?.name ?? e.errorName ?? decodedName(e.data, contract);
  if (name) return new DeskError(409, explain(name), 'Reload to see the current state, then try again.');
  if (e.code === 'ECONNREFUSED' || e.code === 'NETWORK_ERROR') {
    return new DeskError(503, 'The chain node cannot be reached.', 'Wait a moment and try again; the node operator can check the chain.');
  }
  const detail = e.shortMessage ?? e.message;
  return new DeskError(502, `The network refused the transaction${detail ? ` (${detail})` : ''}.`, 'Reload and try again.');
}
