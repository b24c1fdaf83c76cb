/**
 * Public names of addresses for the apps: providers from the registry, everyone else from the
 * participant directory. Patients register without a name (a name is PHI), so a patient shows as
 * a short address, or as the demo cast's pseudonym in the embedded demo.
 */
import type { ParticipantView, ProviderView } from '../shared/src/api-types.ts';
import type { MedRecChain } from './medrec-chain.ts';

const ROLES = ['unregistered', 'patient', 'pharmacy', 'proxy', 'researcher', 'clinician', 'organisation'] as const;

export function shortAddress(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

export class ParticipantNames {
  readonly #chain: MedRecChain;
  readonly #pseudonyms: ReadonlyMap<string, string>;

  /** `pseudonyms`: address → display name known off chain (the demo cast); never from PHI. */
  constructor(chain: MedRecChain, pseudonyms: ReadonlyMap<string, string> = new Map()) {
    this.#chain = chain;
    this.#pseudonyms = pseudonyms;
  }

  async providers(): Promise<ProviderView[]> {
    const records = await this.#chain.registry.read('getProviderRecords');
    return records.map((p) => ({ address: p.account.toLowerCase(), name: p.name, role: 'provider', fhirBase: p.fhirBaseUrl }));
  }

  async describe(address: string, providers?: readonly ProviderView[]): Promise<ParticipantView> {
    const a = address.toLowerCase();
    const provider = (providers ?? (await this.providers())).find((p) => p.address === a);
    if (provider) return { address: a, name: provider.name, role: 'provider' };
    const entry = await this.#chain.directory.read('getParticipant', a);
    const role = ROLES[entry.role] ?? 'unregistered';
    const name = entry.displayName || this.#pseudonyms.get(a) || shortAddress(a);
    return { address: a, name, role };
  }

  /** Everyone in the participant directory plus the providers. */
  async directory(): Promise<ParticipantView[]> {
    const providers = await this.providers();
    const accounts = await this.#chain.directory.read('getParticipants');
    const people = await Promise.all(accounts.map((a) => this.describe(a, providers)));
    return [...people, ...providers.map((p) => ({ address: p.address, name: p.name, role: 'provider' }))]
      .filter((p, i, all) => all.findIndex((q) => q.address === p.address) === i);
  }
}
