/**
 * SMART in the provider console: the registered clients, and EHR launches created directly in the
 * authorization server's launch store for a patient this provider holds records for.
 */
import type { SmartClientView } from '../shared/src/api-types.ts';
import { DeskError, type SmartLauncher } from '../api/desks.ts';
import type { MedRecChain } from './medrec-chain.ts';

/** The parts of the SMART authorization server (`app.smartAuth`) a launch needs. */
export interface SmartLaunchServices {
  readonly clients: { configured(): ReadonlyArray<{ clientId: string; name: string; type: string; redirectUris: readonly string[]; launchUrl?: string; allowedScope?: string }> };
  readonly store: { createLaunch(record: { clientId: string; subject: string; patient: string }, ttlSeconds: number): Promise<string> };
  readonly endpoints: { readonly fhirBaseUrl: string };
}

export class SmartAuthLauncher implements SmartLauncher {
  readonly #smart: SmartLaunchServices;
  readonly #chain: MedRecChain;

  constructor(smart: SmartLaunchServices, chain: MedRecChain) {
    this.#smart = smart;
    this.#chain = chain;
  }

  async clients(): Promise<SmartClientView[]> {
    return this.#smart.clients.configured().map((c) => ({
      clientId: c.clientId,
      name: c.name,
      type: c.type === 'public' ? 'public' : 'confidential',
      ...(c.launchUrl ? { launchUrl: c.launchUrl } : {}),
      redirectUris: [...c.redirectUris],
      scopes: c.allowedScope ?? 'any supported scope',
    }));
  }

  async launch(input: { clientId: string; patient: string; user: string }): Promise<{ url: string }> {
    const client = this.#smart.clients.configured().find((c) => c.clientId === input.clientId);
    if (!client?.launchUrl) throw new DeskError(400, 'That app is not registered for EHR launch.', 'Pick an app from the list.');
    const relationship = await this.#chain.relationships.read('getRelationship', input.user, input.patient);
    if (!relationship.active) throw new DeskError(403, 'You do not hold records for this patient.', 'Link the patient first (Patients tab).');
    const launch = await this.#smart.store.createLaunch({ clientId: client.clientId, subject: input.user, patient: input.patient }, 600);
    const url = new URL(client.launchUrl);
    url.searchParams.set('iss', this.#smart.endpoints.fhirBaseUrl);
    url.searchParams.set('launch', launch);
    return { url: url.toString() };
  }
}
