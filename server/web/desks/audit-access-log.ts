/**
 * The patient's access log from the server's AuditEvents (server/audit), in the app's words:
 * who (with a public name), what type, allowed or refused, for what purpose, from which sources.
 */
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import type { FastifyInstance } from 'fastify';
import type { AccessLogEntry } from '../shared/src/api-types.ts';
import { DeskError, type AccessLogFilter, type AccessLogSource } from '../api/desks.ts';
import type { ParticipantNames } from './participant-names.ts';

/** Searches a patient's AuditEvents with the patient's own bearer token. */
export type AuditSearchFn = (patient: string, options: { count: number }, bearer: string) => Promise<readonly AuditEvent[]>;

/** The FHIR API's own `GET /fhir/AuditEvent?patient=` (server/audit), called in-process. */
export function auditSearchThroughFhir(app: FastifyInstance, fhirBasePath = '/fhir'): AuditSearchFn {
  return async (patient, options, bearer) => {
    const response = await app.inject({
      method: 'GET',
      url: `${fhirBasePath}/AuditEvent?patient=${encodeURIComponent(patient)}&_count=${options.count}`,
      headers: { authorization: `Bearer ${bearer}`, accept: 'application/fhir+json' },
    });
    if (response.statusCode === 404) throw new DeskError(503, 'The access log is not kept on this server.', 'Ask the node operator to enable auditing.');
    if (response.statusCode !== 200) {
      const diagnostics = (response.json() as { issue?: Array<{ diagnostics?: string }> }).issue?.[0]?.diagnostics;
      throw new DeskError(response.statusCode === 503 ? 503 : 502, `The access log could not be read${diagnostics ? `: ${diagnostics}` : ''}.`, 'Try again in a moment.');
    }
    const bundle = response.json() as Bundle<AuditEvent>;
    return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
  };
}

const PURPOSES: Record<string, string> = { TREAT: 'treatment', HPAYMT: 'payment', HOPERAT: 'operations', HRESCH: 'research', PUBHLTH: 'public health' };

export class AuditAccessLog implements AccessLogSource {
  readonly #search: AuditSearchFn;
  readonly #names: ParticipantNames;
  readonly #sourceName: (sourceId: string) => string | undefined;

  /** `sourceName`: the public name of a source id (its provider's), so the log says where, not which adapter. */
  constructor(search: AuditSearchFn, names: ParticipantNames, sourceName: (sourceId: string) => string | undefined = () => undefined) {
    this.#search = search;
    this.#names = names;
    this.#sourceName = sourceName;
  }

  async accessLog(patient: string, filter: AccessLogFilter, bearer: string): Promise<AccessLogEntry[]> {
    const events = await this.#search(patient, { count: 500 }, bearer);
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
      const sources = (query?.detail ?? []).filter((d) => d.type === 'source').map((d) => d.valueString ?? '').map((id) => this.#sourceName(id) ?? id);
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
