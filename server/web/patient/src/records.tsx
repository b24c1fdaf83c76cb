/** My records, through our own FHIR API with my own token, grouped by provider and type. */
import { api, ApiError } from '../../shared/src/api.ts';
import type { PatientNetwork } from '../../shared/src/api-types.ts';
import { Button, Loading, Problem, Section, useLoad } from '../../shared/src/ui.tsx';

const TYPES = ['Condition', 'MedicationRequest', 'Observation', 'AllergyIntolerance', 'Immunization', 'Procedure', 'Encounter'] as const;
const TYPE_LABELS: Record<string, string> = {
  Condition: 'Conditions', MedicationRequest: 'Prescriptions', Observation: 'Results and measurements',
  AllergyIntolerance: 'Allergies', Immunization: 'Immunizations', Procedure: 'Procedures', Encounter: 'Visits',
};

interface Resource {
  resourceType: string;
  id: string;
  meta?: { source?: string };
  code?: Concept; medicationCodeableConcept?: Concept; vaccineCode?: Concept; type?: Concept[];
  effectiveDateTime?: string; authoredOn?: string; onsetDateTime?: string; recordedDate?: string; occurrenceDateTime?: string;
  performedDateTime?: string; period?: { start?: string };
  valueQuantity?: { value?: number; unit?: string };
}
interface Concept { text?: string; coding?: Array<{ display?: string; code?: string }> }
interface Bundle { entry?: Array<{ resource?: Resource; search?: { mode?: string } }> }

function conceptText(c: Concept | undefined): string | undefined {
  return c?.text ?? c?.coding?.find((x) => x.display)?.display ?? c?.coding?.[0]?.code;
}

function describe(r: Resource): string {
  const name = conceptText(r.code) ?? conceptText(r.medicationCodeableConcept) ?? conceptText(r.vaccineCode) ?? conceptText(r.type?.[0]) ?? r.resourceType;
  const value = r.valueQuantity?.value !== undefined ? ` — ${r.valueQuantity.value} ${r.valueQuantity.unit ?? ''}` : '';
  return `${name}${value}`;
}

function when(r: Resource): string {
  const d = r.effectiveDateTime ?? r.authoredOn ?? r.onsetDateTime ?? r.recordedDate ?? r.occurrenceDateTime ?? r.performedDateTime ?? r.period?.start;
  return d ? new Date(d).toLocaleDateString() : '';
}

async function loadRecords(fhirBase: string, patient: string): Promise<{ resources: Resource[]; warnings: string[] }> {
  const resources: Resource[] = [];
  const warnings: string[] = [];
  // Ask only for the types this server says it serves (its CapabilityStatement).
  const metadata = await api<{ rest?: Array<{ resource?: Array<{ type: string }> }> }>(`${fhirBase}/metadata`, { accept: 'application/fhir+json' }).catch(() => undefined);
  const served = new Set((metadata?.rest?.[0]?.resource ?? []).map((r) => r.type));
  const types = served.size ? TYPES.filter((t) => served.has(t)) : [...TYPES];
  await Promise.all(types.map(async (type) => {
    let bundle: Bundle;
    try {
      bundle = await api<Bundle>(`${fhirBase}/${type}?patient=${encodeURIComponent(patient)}&_count=50`, { accept: 'application/fhir+json' });
    } catch (error) {
      // A type this server does not serve is simply absent; anything else is worth saying.
      if (error instanceof ApiError && error.status === 404) return;
      warnings.push(`${TYPE_LABELS[type]} could not be loaded (${(error as Error).message})`);
      return;
    }
    for (const e of bundle.entry ?? []) {
      if (!e.resource) continue;
      if (e.search?.mode === 'outcome' || e.resource.resourceType === 'OperationOutcome') warnings.push(`${type}: a provider did not answer in time`);
      else resources.push(e.resource);
    }
  }));
  return { resources, warnings };
}

export function Records({ network, fhirBase, patient }: { network: PatientNetwork; fhirBase: string; patient: string }) {
  const records = useLoad(() => loadRecords(fhirBase, patient), [patient]);
  const providerName = (source: string | undefined) => {
    if (!source) return 'Unknown provider';
    const p = network.providers.find((x) => source.toLowerCase().includes(x.address) || (x.fhirBase && source.startsWith(x.fhirBase)) || source === x.name);
    return p?.name ?? source;
  };
  const groups = new Map<string, Map<string, Resource[]>>();
  for (const r of records.data?.resources ?? []) {
    const provider = providerName(r.meta?.source);
    const byType = groups.get(provider) ?? new Map<string, Resource[]>();
    groups.set(provider, byType);
    byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r]);
  }
  return (
    <Section title="My records" intro="Everything your providers hold about you, read live from each of them with your own sign-in.">
      <div class="row"><Button onClick={records.reload}>Refresh</Button></div>
      {records.error && <Problem error={records.error} retry={records.reload} />}
      {records.loading && !records.data && <Loading what="your records" />}
      {records.data?.warnings.map((w) => <p class="status status-failed" key={w}>{w}. Try “Refresh” in a moment.</p>)}
      {records.data && groups.size === 0 && <p class="muted">No records found yet.</p>}
      {[...groups.entries()].map(([provider, byType]) => (
        <section key={provider} aria-label={provider}>
          <h3>{provider}</h3>
          {TYPES.filter((t) => byType.has(t)).map((t) => (
            <details key={t} open={t === 'Condition' || t === 'MedicationRequest'}>
              <summary>{TYPE_LABELS[t]} ({byType.get(t)?.length})</summary>
              <ul class="list">
                {(byType.get(t) ?? []).map((r) => <li key={r.id}><span>{describe(r)}</span><span class="muted">{when(r)}</span></li>)}
              </ul>
            </details>
          ))}
        </section>
      ))}
    </Section>
  );
}
