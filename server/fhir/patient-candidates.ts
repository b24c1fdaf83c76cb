/**
 * Which persons a Patient search can match, decided at the sources, so that the search reads the
 * merged Patients of those persons only, not of every person it may see.
 *
 * - `_id` names persons directly (merged Patients' ids are patient keys), or a provider's own
 *   Patient (`clinic.rfc-1001`, as `Patient.link` names it): that one is found as a read finds it.
 * - Every other criterion is searched on its own at each source that evaluates it, among that
 *   source's Patients of the candidates: a merged Patient can meet one criterion through one
 *   provider's record and the next through another's. A person linked at a source that cannot
 *   evaluate a criterion, or did not answer, stays a candidate.
 *
 * This only narrows: the merged Patients are matched exactly afterwards (`rest`).
 */
import { Operator } from '@medplum/core';
import type { Filter } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { AccessGrant } from '../access/access-policy.ts';
import { forEachBounded } from './bounded-concurrency.ts';
import { isPatientKey } from './ids.ts';
import type { ResourceIdCodec, SourceLocalId } from './ids.ts';
import type { PatientLinks } from './patient-links.ts';
import { declaredParams } from './planner.ts';
import type { Planner } from './planner.ts';
import { MAX_COUNT } from './search-request.ts';
import { callSource } from './source-call.ts';
import type { FederatedSource, SourceDirectory } from './source-directory.ts';

export interface PatientCandidateDeps {
  readonly sources: SourceDirectory;
  readonly links: PatientLinks;
  readonly ids: ResourceIdCodec;
  readonly planner: Planner;
  readonly sourceTimeoutMs: number;
}

export interface PatientCandidates {
  /** Persons that may match, in the order of the given candidates. */
  readonly keys: readonly string[];
  /** Providers' own Patients named by `_id`. */
  readonly sourcePatients: readonly SourceLocalId[];
  /** Criteria still to match on the merged Patients (all but `_id`). */
  readonly rest: readonly Filter[];
  readonly issues: readonly OperationOutcomeIssue[];
}

/** Source Patient ids per query: keeps upstream URLs (`_id=a,b,…`) a sane length. */
const IDS_PER_QUERY = 100;
const QUERIES_IN_FLIGHT = 4;

export async function patientCandidates(
  deps: PatientCandidateDeps,
  filters: readonly Filter[],
  candidates: readonly string[],
  grant: AccessGrant,
  signal: AbortSignal | undefined,
): Promise<PatientCandidates> {
  const issues: OperationOutcomeIssue[] = [];
  let keys = [...new Set(candidates)];
  let sourcePatients: SourceLocalId[] = [];
  const rest: Filter[] = [];
  for (const filter of filters) {
    if (filter.code === '_id' && filter.operator === Operator.EQUALS) {
      const named = filter.value.split(',');
      const namedSet = new Set(named);
      keys = keys.filter((k) => namedSet.has(k));
      sourcePatients = named.filter((id) => !isPatientKey(id)).map((id) => deps.ids.decode(id)).filter((l): l is SourceLocalId => l !== undefined);
    } else {
      rest.push(filter);
    }
  }
  for (const filter of rest) {
    if (keys.length === 0) break;
    const possible = new Set<string>();
    await Promise.all(deps.sources.serving('Patient').map((source) => matchAt(deps, source, filter, keys, grant, signal, possible, issues)));
    keys = keys.filter((k) => possible.has(k));
  }
  return { keys, sourcePatients, rest, issues };
}

/** Adds to `possible` the candidates whose Patient at this source meets `filter`, or may. */
async function matchAt(
  deps: PatientCandidateDeps,
  source: FederatedSource,
  filter: Filter,
  keys: readonly string[],
  grant: AccessGrant,
  signal: AbortSignal | undefined,
  possible: Set<string>,
  issues: OperationOutcomeIssue[],
): Promise<void> {
  const personOfLocal = new Map<string, string>();
  for (const key of keys) {
    if (!grant.allows(key, source, 'Patient')) continue;
    for (const local of deps.links.localIds(key, source.sourceId)) personOfLocal.set(local, key);
  }
  if (personOfLocal.size === 0) return;
  if (!declaredParams(source, 'Patient').has(filter.code)) {
    for (const key of personOfLocal.values()) possible.add(key);
    return;
  }
  const localized = deps.planner.localizeFilters('Patient', [filter], source.sourceId);
  if (!localized) return; // the criterion names only other sources' records
  const locals = [...personOfLocal.keys()];
  const batches = Array.from({ length: Math.ceil(locals.length / IDS_PER_QUERY) }, (_, i) => locals.slice(i * IDS_PER_QUERY, (i + 1) * IDS_PER_QUERY));
  await forEachBounded(batches, QUERIES_IN_FLIGHT, async (patients) => {
    let page: string | undefined;
    // A batch has at most IDS_PER_QUERY matches: a few pages at most, even from a source that pages small.
    for (let hops = 0; hops < IDS_PER_QUERY; hops++) {
      const result = await callSource(source, deps.sourceTimeoutMs, signal, (s) =>
        source.adapter.search({ resourceType: 'Patient', filters: localized, patients, count: MAX_COUNT, page }, s),
      );
      if (!result.ok) {
        issues.push(result.issue);
        for (const local of patients) possible.add(personOfLocal.get(local) as string);
        return;
      }
      for (const resource of result.value.resources) {
        const key = resource.id ? personOfLocal.get(resource.id) : undefined;
        if (key) possible.add(key);
      }
      page = result.value.next;
      if (!page) return;
    }
  });
}
