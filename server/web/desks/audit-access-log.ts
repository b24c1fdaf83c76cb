/**
 * The patient's access log from the server's AuditEvents (server/audit), in the app's words:
 * who (with a public name), what type, allowed or refused, for what purpose, from which sources.
 */
import type { AuditEvent } from '@medplum/fhirtypes';
import type { AccessLogEntry } from '../shared/src/api-types.ts';
import type { AccessLogFilter, AccessLogSource } from '../api/desks.ts';
import type { ParticipantNames } from './participant-names.ts';

export type AuditSearchFn = (patient: string, options: { count: number }) => Promise<readonly AuditEvent[]>;

const PURPOSES: Record<string, string> = { TREAT: 'treatment', HPAYMT: 'payment', HOPERAT: 'operations', HRESCH: 'research', PUBHLTH: 'public health' };

export class AuditAccessLog implements AccessLogSource {
  readonly #search: AuditSearchFn;
  readonly #names: ParticipantNames;

  constructor(search: AuditSearchFn, names: ParticipantNames) {
    this.#search = search;
    this.#names = names;
  }

  async accessLog(patient: string, filter: AccessLogFilter): Promise<AccessLogEntry[]> {
    const events = await this.#search(patient, { count: 500 });
    const providers = await this.#names.providers();
    const names = new Map<string, Promise<{ address: string; name: string; role: string }>>();
    const nameOf = (address: string) => {
      let p = names.get(address);
      if (!p) names.set(address, (p = this.#names.describe(address, providers)));
      return p;
    };
    const entries: AccessLogEntry[] = [];
    for (const e of events) {
      const agent = e.agent?.[0];
      const who = (agent?.who?.display ?? '').toLowerCase();
      const query = e.entity?.find((x) => x.role?.code === '24');
      const resourceType = query?.detail?.find((d) => d.type === 'resourceType')?.valueString ?? query?.name ?? 'unknown';
      const sources = (query?.detail ?? []).filter((d) => d.type === 'source').map((d) => d.valueString ?? '');
      const outcome = e.outcome === '0' ? 'allowed' : 'refused';
      if (filter.who && filter.who !== who) continue;
      if (filter.type && filter.type !== resourceType) continue;
      if (filter.outcome && filter.outcome !== outcome) continue;
      const purposeCode = agent?.purposeOfUse?.[0]?.coding?.[0]?.code;
      const whoView = /^0x[0-9a-f]{40}$/.test(who)
        ? who === patient ? { address: who, name: 'You', role: 'patient' } : await nameOf(who)
        : { address: '', name: 'Someone not signed in', role: 'unknown' };
      entries.push({
        id: e.id ?? `${e.recorded}-${entries.length}`,
        recorded: e.recorded ?? new Date(0).toISOString(),
        who: whoView,
        ...(agent?.altId ? { client: agent.altId } : {}),
        resourceType,
        action: e.subtype?.[0]?.code === 'read' ? 'read' : 'searched',
        outcome,
        ...(purposeCode && PURPOSES[purposeCode] ? { purpose: PURPOSES[purposeCode] } : {}),
        sources,
      });
    }
    return entries.sort((a, b) => (a.recorded < b.recorded ? 1 : -1));
  }
}
