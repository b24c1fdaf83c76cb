/** My records, through our own FHIR API with my own token, grouped by provider and type. */
import { api, ApiError } from '../../shared/src/api.ts';
import type { PatientNetwork } from '../../shared/src/api-types.ts';
import { NAMING_INCLUDES, RECORD_TYPES, describeRecord, includedByReference, newestFirst, recordDate, recordTypeLabel, type FhirResource } from '../../shared/src/fhir-display.ts';
import { Button, Loading, Problem, Section, useLoad } from '../../shared/src/ui.tsx';

/** Pages of 100 read per type before saying there is more (a lifetime of results stays readable). */
const MAX_PAGES = 5;
const PAGE_SIZE = 100;

interface Bundle {
  entry?: Array<{ resource?: FhirResource & { issue?: Array<{ details?: { text?: string }; diagnostics?: string }> }; search?: { mode?: string } }>;
  link?: Array<{ relation: string; url: string }>;
}

interface LoadedRecords {
  readonly resources: FhirResource[];
  /** What the searches included to name things (the Medications prescriptions point at). */
  readonly included: Map<string, FhirResource>;
  /** What is missing and why, naming the provider (the server's warning entries say who). */
  readonly warnings: string[];
  /** Types with more records than were read. */
  readonly more: string[];
}

async function loadRecords(fhirBase: string, patient: string): Promise<LoadedRecords> {
  const resources: FhirResource[] = [];
  const included = new Map<string, FhirResource>();
  const warnings = new Set<string>();
  const more: string[] = [];
  // Ask only for the types this server says it serves (its CapabilityStatement).
  const metadata = await api<{ rest?: Array<{ resource?: Array<{ type: string }> }> }>(`${fhirBase}/metadata`, { accept: 'application/fhir+json' }).catch(() => undefined);
  const served = new Set((metadata?.rest?.[0]?.resource ?? []).map((r) => r.type));
  const types = served.size ? RECORD_TYPES.filter((t) => served.has(t)) : [...RECORD_TYPES];
  await Promise.all(types.map(async (type) => {
    const naming = NAMING_INCLUDES[type] ? `&${NAMING_INCLUDES[type]}` : '';
    let url: string | undefined = `${fhirBase}/${type}?patient=${encodeURIComponent(patient)}&_count=${PAGE_SIZE}${naming}`;
    for (let page = 0; url && page < MAX_PAGES; page++) {
      let bundle: Bundle;
      try {
        bundle = await api<Bundle>(url, { accept: 'application/fhir+json' });
      } catch (error) {
        // A type this server does not serve is simply absent; anything else is worth saying.
        if (!(error instanceof ApiError && error.status === 404)) warnings.add(`${recordTypeLabel(type)} could not be loaded (${(error as Error).message})`);
        return;
      }
      for (const [reference, resource] of includedByReference(bundle.entry ?? [])) included.set(reference, resource);
      for (const e of bundle.entry ?? []) {
        if (!e.resource || e.search?.mode === 'include') continue;
        if (e.search?.mode === 'outcome' || e.resource.resourceType === 'OperationOutcome') {
          for (const issue of e.resource.issue ?? []) warnings.add(`${recordTypeLabel(type)}: ${issue.details?.text ?? 'a provider did not answer in time'}`);
        } else {
          resources.push(e.resource);
        }
      }
      url = bundle.link?.find((l) => l.relation === 'next')?.url;
    }
    if (url) more.push(type);
  }));
  return { resources, included, warnings: [...warnings], more };
}

export function Records({ network, fhirBase, patient }: { network: PatientNetwork; fhirBase: string; patient: string }) {
  const records = useLoad(() => loadRecords(fhirBase, patient), [patient]);
  const providerName = (source: string | undefined) => {
    if (!source) return 'Unknown provider';
    const p = network.providers.find((x) => source.toLowerCase().includes(x.address) || (x.fhirBase && source.startsWith(x.fhirBase)) || source === x.name);
    return p?.name ?? source;
  };
  const groups = new Map<string, Map<string, FhirResource[]>>();
  for (const r of records.data?.resources ?? []) {
    const provider = providerName(r.meta?.source);
    const byType = groups.get(provider) ?? new Map<string, FhirResource[]>();
    groups.set(provider, byType);
    byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r]);
  }
  return (
    <Section title="My records" intro="Everything your providers hold about you, read live from each of them with your own sign-in.">
      <div class="row"><Button onClick={records.reload}>Refresh</Button></div>
      {records.error && <Problem error={records.error} retry={records.reload} />}
      {records.loading && !records.data && <Loading what="your records" />}
      {records.data?.warnings.map((w) => <p class="status status-failed" key={w}>{w.replace(/\.$/, '')}. Try “Refresh” in a moment.</p>)}
      {records.data && records.data.more.length > 0 && (
        <p class="muted">Showing the first {MAX_PAGES * PAGE_SIZE} {records.data.more.map((t) => recordTypeLabel(t).toLowerCase()).join(' and ')}; there are more at your providers.</p>
      )}
      {records.data && groups.size === 0 && <p class="muted">No records found yet.</p>}
      {[...groups.entries()].map(([provider, byType]) => (
        <section key={provider} aria-label={provider}>
          <h3>{provider}</h3>
          {RECORD_TYPES.filter((t) => byType.has(t)).map((t) => (
            <details key={t} open={t === 'Condition' || t === 'MedicationRequest'}>
              <summary>{recordTypeLabel(t)} ({byType.get(t)?.length})</summary>
              <ul class="list">
                {(byType.get(t) ?? []).sort(newestFirst).map((r) => <li key={r.id}><span>{describeRecord(r, records.data?.included)}</span><span class="muted">{recordDate(r)}</span></li>)}
              </ul>
            </details>
          ))}
        </section>
      ))}
    </Section>
  );
}
