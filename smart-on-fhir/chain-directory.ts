/**
 * Who an address is, from the chain: the participant directory (role, display name, JWKS URL for
 * backend systems) and the provider registry (provider names). Feeds the consent screen, the
 * `fhirUser` resource type, and Backend Services clients known only on chain (client_id = the
 * participant's address, keys at its registered JWKS URL). A current provider is such a client
 * too (a peer MedRec node calling this one): its keys are at the JWKS URL of its participant
 * record, else at the node JWKS path of its registered FHIR base's origin. Answers are cached briefly.
 */
import type { ContractRunner } from 'ethers';
import { NODE_JWKS_PATH } from '../adapters/fhir/node-keys.ts';
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
  // A provider only while the provider registry says so (as the authorization indexes decide it).
  [Role.Organisation]: 'organisation',
};

/** Directory roles whose participants act as systems (a current provider is one too, from the registry). */
const SYSTEM_ROLES: ReadonlySet<ParticipantRole | undefined> = new Set(['pharmacy', 'researcher']);

/** Where a provider's node publishes its Backend Services keys: beside its registered FHIR base. */
function nodeJwksUrl(fhirBaseUrl: string): string | undefined {
  if (!URL.canParse(fhirBaseUrl)) return undefined;
  const url = new URL(fhirBaseUrl);
  return url.protocol === 'https:' || url.protocol === 'http:' ? new URL(NODE_JWKS_PATH, url.origin).href : undefined;
}

interface Entry {
  readonly info: ParticipantInfo;
  /** A current member of the provider registry. */
  readonly provider: boolean;
  readonly jwksUrl?: string;
  readonly at: number;
}

export interface ChainDirectory {
  describeParticipant(address: string): Promise<ParticipantInfo | undefined>;
  resolveParticipantClient(address: string): Promise<ParticipantClient | undefined>;
  /** Every participant that is such a client now (for the client list; one lookup per participant). */
  listParticipantClients(): Promise<ParticipantClient[]>;
}

export function chainDirectory(runner: ContractRunner, addresses: { participantDirectory: string; providerRegistry: string }, cacheMs = 60_000): ChainDirectory {
  const directory = connectParticipantDirectory(addresses.participantDirectory, runner);
  const registry = connectProviderRegistry(addresses.providerRegistry, runner);
  const cache = new Map<string, Entry>();

  const lookup = async (raw: string): Promise<Entry> => {
    const address = raw.toLowerCase();
    const hit = cache.get(address);
    if (hit && Date.now() - hit.at < cacheMs) return hit;
    let entry: Entry;
    const [participant, isProvider] = await Promise.all([directory.read('getParticipant', address), registry.read('isProvider', address)]);
    if (isProvider) {
      const provider = await registry.read('getProvider', address);
      const jwksUrl = participant.jwksUrl || nodeJwksUrl(provider.fhirBaseUrl);
      entry = { info: { displayName: provider.name, role: 'provider' }, provider: true, ...(jwksUrl ? { jwksUrl } : {}), at: Date.now() };
    } else {
      const role = ROLES[Number(participant.role)];
      entry = {
        info: { ...(participant.displayName ? { displayName: participant.displayName } : {}), ...(role ? { role } : {}) },
        provider: false,
        ...(participant.jwksUrl ? { jwksUrl: participant.jwksUrl } : {}),
        at: Date.now(),
      };
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(address, entry);
    return entry;
  };

  const resolveParticipantClient = async (address: string): Promise<ParticipantClient | undefined> => {
    const entry = await lookup(address);
    // Only organisations acting as systems: pharmacies, research organisations and current providers' nodes, with keys.
    if (!entry.jwksUrl || !(entry.provider || SYSTEM_ROLES.has(entry.info.role))) return undefined;
    return { address: address.toLowerCase(), displayName: entry.info.displayName ?? address, jwksUri: entry.jwksUrl };
  };

  return {
    async describeParticipant(address) {
      return (await lookup(address)).info;
    },
    resolveParticipantClient,
    async listParticipantClients() {
      const [participants, providers] = await Promise.all([directory.read('getParticipants'), registry.read('getProviders')]);
      const addresses = [...new Set([...participants, ...providers].map((a) => a.toLowerCase()))];
      const out: ParticipantClient[] = [];
      for (let i = 0; i < addresses.length; i += 50) {
        const found = await Promise.all(addresses.slice(i, i + 50).map(resolveParticipantClient));
        out.push(...found.filter((c): c is ParticipantClient => c !== undefined));
      }
      return out;
    },
  };
}
