/**
 * Who an address is, from the chain: the participant directory (role, display name, JWKS URL for
 * backend systems) and the provider registry (provider names). Feeds the consent screen, the
 * `fhirUser` resource type, and Backend Services clients known only on chain (client_id = the
 * participant's address, keys at its registered JWKS URL). Answers are cached briefly.
 */
import type { ContractRunner } from 'ethers';
import { connectParticipantDirectory, Role } from '../contracts/bindings/ParticipantDirectory.ts';
import { connectProviderRegistry } from '../contracts/bindings/ProviderRegistry.ts';
import type { ParticipantClient } from './clients.ts';
import type { ParticipantInfo, ParticipantRole } from './smart-context.ts';

const ROLES: Record<number, ParticipantRole | undefined> = {
  [Role.Patient]: 'patient',
  [Role.Pharmacy]: 'pharmacy',
  [Role.Proxy]: 'proxy',
  [Role.Researcher]: 'researcher',
  [Role.Clinician]: 'clinician',
  [Role.Organisation]: 'provider',
};

interface Entry {
  readonly info: ParticipantInfo;
  readonly jwksUrl?: string;
  readonly at: number;
}

export interface ChainDirectory {
  describeParticipant(address: string): Promise<ParticipantInfo | undefined>;
  resolveParticipantClient(address: string): Promise<ParticipantClient | undefined>;
}

export function chainDirectory(runner: ContractRunner, addresses: { participantDirectory: string; providerRegistry: string }, cacheMs = 60_000): ChainDirectory {
  const directory = connectParticipantDirectory(addresses.participantDirectory, runner);
  const registry = connectProviderRegistry(addresses.providerRegistry, runner);
  const cache = new Map<string, Entry>();

  const lookup = async (raw: string): Promise<Entry> => {
    const address = raw.toLowerCase();
    const hit = cache.get(address);
    if (hit && Date.now() - hit.at < cacheMs) return hit;
    let entry: Entry = { info: {}, at: Date.now() };
    if (await registry.read('isProvider', address)) {
      const provider = await registry.read('getProvider', address);
      entry = { info: { displayName: provider.name, role: 'provider' }, at: Date.now() };
    } else {
      const participant = await directory.read('getParticipant', address);
      const role = ROLES[Number(participant.role)];
      entry = {
        info: { ...(participant.displayName ? { displayName: participant.displayName } : {}), ...(role ? { role } : {}) },
        ...(participant.jwksUrl ? { jwksUrl: participant.jwksUrl } : {}),
        at: Date.now(),
      };
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(address, entry);
    return entry;
  };

  return {
    async describeParticipant(address) {
      return (await lookup(address)).info;
    },
    async resolveParticipantClient(address) {
      const entry = await lookup(address);
      // Only organisations acting as systems: pharmacies and research organisations with keys.
      if (!entry.jwksUrl || (entry.info.role !== 'pharmacy' && entry.info.role !== 'researcher')) return undefined;
      return { address: address.toLowerCase(), displayName: entry.info.displayName ?? address, jwksUri: entry.jwksUrl };
    },
  };
}
