/**
 * The planner: decides, before anything is fanned out, which sources are asked and with what.
 * It resolves the patients a search names (compartment, `patient`/`subject` values) to each
 * source's local ids, consults the AccessPolicy so only allowed sources and patients are
 * queried, leaves out sources that cannot evaluate a parameter or sort (with an informational
 * warning rather than silently over-matching), and drops parameters and sorts no source supports
 * with a warning (lenient) or refuses them (`Prefer: handling=strict`).
 */
import { badRequest, getSearchParameter, OperationOutcomeError, parseSearchRequest } from '@medplum/core';
import type { Filter, SortRule } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { SourceQuery } from '../../adapters/ehr-adapter.ts';
import { isPatientCompartmentType, patientCompartmentParams } from '../../adapters/embedded/patient-compartment.ts';
import type { AccessContext } from '../access/access-context.ts';
import { constraintSearch } from '../access/scope-constraints.ts';
import type { AccessGrant, AccessPolicy } from '../access/access-policy.ts';
import { isPatientKey } from './ids.ts';
import type { ResourceIdCodec, SourceLocalId } from './ids.ts';
import { accessDenied, sourceIssue } from './outcomes.ts';
import type { PatientLinks } from './patient-links.ts';
import type { FhirSearch } from './search-request.ts';
import type { FederatedSource, SourceDirectory } from './source-directory.ts';

/** Patients a request names, as keys and (for unlinked source patients) source-local ids. */
export interface NamedPatients {
  readonly keys: readonly string[];
  readonly local: readonly SourceLocalId[];
}

export interface SourcePlan {
  readonly source: FederatedSource;
  readonly query: Omit<SourceQuery, 'page' | 'count'>;
}

export interface SearchPlan {
  readonly sources: readonly SourcePlan[];
  readonly issues: readonly OperationOutcomeIssue[];
  readonly grant: AccessGrant;
  /** Filter codes that no source supports: left out of the search and of the self link. */
  readonly dropped: readonly string[];
  /** The `_sort` rules applied: those some source can sort by (the others are dropped with a warning). */
  readonly sort: readonly SortRule[];
}

export const denied = accessDenied;

function droppedIssue(text: string, expression: string): OperationOutcomeIssue {
  return { severity: 'warning', code: 'not-supported', details: { text }, expression: [expression] };
}

/** The parameters of a type that name the patient whose compartment is searched. */
export function patientParams(resourceType: string): string[] {
  const codes = new Set(patientCompartmentParams(resourceType).filter((c) => getSearchParameter(resourceType, c)?.type === 'reference'));
  if (getSearchParameter(resourceType, 'patient')) codes.add('patient');
  if (resourceType === 'Patient') codes.clear();
  return [...codes];
}

/** The types `_include` (the named target, else every target the parameter allows) and `_revinclude` can add. */
export function includeTypesOf(search: FhirSearch): string[] {
  const includeTargets = search.include.flatMap((i) => (i.targetType ? [i.targetType] : ((getSearchParameter(i.resourceType, i.searchParam)?.target ?? []) as string[])));
  return [...new Set([...includeTargets, ...search.revInclude.map((i) => i.resourceType)])];
}

/** A source's declared parameters for a type, as a set cached on its capabilities object. */
const declaredCache = new WeakMap<object, Map<string, ReadonlySet<string>>>();
export function declaredParams(source: FederatedSource, resourceType: string): ReadonlySet<string> {
  const capabilities = source.adapter.capabilities();
  let byType = declaredCache.get(capabilities);
  if (!byType) declaredCache.set(capabilities, (byType = new Map()));
  let set = byType.get(resourceType);
  if (!set) byType.set(resourceType, (set = new Set(capabilities.resources[resourceType]?.searchParams ?? [])));
  return set;
}

export interface PlannerDeps {
  readonly sources: SourceDirectory;
  readonly links: PatientLinks;
  readonly ids: ResourceIdCodec;
  readonly policy: AccessPolicy;
}

export class Planner {
  readonly #deps: PlannerDeps;

  constructor(deps: PlannerDeps) {
    this.#deps = deps;
  }

  /** A patient reference value (`0xabc…`, `Patient/0xabc…`, `Patient/hospital.123`) as key or source-local id. */
  resolvePatient(value: string): { key?: string; local?: SourceLocalId } {
    const id = value.startsWith('Patient/') ? value.slice('Patient/'.length) : value;
    if (isPatientKey(id)) return { key: id };
    const local = this.#deps.ids.decode(id);
    if (!local) return {};
    const key = this.#deps.links.patientOf(local.sourceId, local.localId);
    return key ? { key } : { local };
  }

  /**
   * Pulls the patient-naming filters out of a search. `compartment` is the `Patient/[id]/[type]`
   * id. Returns undefined when no patient is named.
   */
  namedPatients(search: FhirSearch, compartment: string | undefined): { named?: NamedPatients; rest: Filter[] } {
    const codes = new Set(patientParams(search.resourceType));
    const rest: Filter[] = [];
    let sets: Array<{ keys: Set<string>; local: SourceLocalId[] }> = [];
    const add = (values: string[]) => {
      const keys = new Set<string>();
      const local: SourceLocalId[] = [];
      for (const v of values) {
        const r = this.resolvePatient(v);
        if (r.key) keys.add(r.key);
        if (r.local) local.push(r.local);
      }
      sets.push({ keys, local });
    };
    if (compartment !== undefined) add([compartment]);
    for (const filter of search.filters) {
      if (codes.has(filter.code) && filter.operator === 'eq') add(filter.value.split(','));
      else rest.push(filter);
    }
    if (sets.length === 0) return { rest };
    // Several patient filters are ANDed: keep what every one of them names.
    const [first, ...others] = sets as [{ keys: Set<string>; local: SourceLocalId[] }, ...typeof sets];
    const keys = [...first.keys].filter((k) => others.every((o) => o.keys.has(k)));
    const local = first.local.filter((l) => others.every((o) => o.local.some((x) => x.sourceId === l.sourceId && x.localId === l.localId)));
    sets = [];
    return { named: { keys, local }, rest };
  }

  /**
   * Filters as one source must see them: `_id` values and reference values carry global ids,
   * which become that source's local ids (a patient key becomes the patient's local ids there).
   * Values naming another source's records are dropped; undefined when nothing is left for a
   * filter, i.e. this source cannot have matches.
   */
  localizeFilters(resourceType: string, filters: readonly Filter[], sourceId: string): Filter[] | undefined {
    const out: Filter[] = [];
    for (const filter of filters) {
      const isId = filter.code === '_id';
      const isReference = !isId && getSearchParameter(resourceType, filter.code)?.type === 'reference' && filter.operator !== 'missing';
      if (!isId && !isReference) {
        out.push(filter);
        continue;
      }
      const values: string[] = [];
      for (const raw of filter.value.split(',')) {
        const slash = raw.lastIndexOf('/');
        const type = slash > 0 ? raw.slice(0, slash) : undefined;
        const id = slash > 0 ? raw.slice(slash + 1) : raw;
        if (type?.includes('/')) {
          values.push(raw); // absolute URL: the source may know it as is
          continue;
        }
        if (isPatientKey(id)) {
          for (const localId of this.#deps.links.localIds(id, sourceId)) values.push(type ? `${type}/${localId}` : localId);
          continue;
        }
        const decoded = this.#deps.ids.decode(id);
        if (decoded?.sourceId === sourceId) values.push(type ? `${type}/${decoded.localId}` : decoded.localId);
      }
      if (values.length === 0) return undefined;
      out.push({ ...filter, value: values.join(',') });
    }
    return out;
  }

  async plan(search: FhirSearch, context: AccessContext | undefined, compartment: string | undefined, options: { strict: boolean }): Promise<SearchPlan> {
    const { sources, links, policy } = this.#deps;
    const type = search.resourceType;
    const { named, rest } = this.namedPatients(search, compartment);
    const decision = await policy.decide(context, {
      resourceType: type,
      action: 'search',
      patients: named ? named.keys : [],
      includeTypes: includeTypesOf(search),
    });
    if (!decision.allowed) throw denied(decision.status, decision.reason);
    const grant = decision.grant;

    const serving = sources.serving(type);
    const declaredBy = serving.map((s) => declaredParams(s, type));
    const supported = { has: (code: string) => declaredBy.some((d) => d.has(code)) };
    const dropped = [...new Set(rest.filter((f) => !supported.has(f.code)).map((f) => f.code))];
    const unsortable = [...new Set(search.sort.filter((r) => !supported.has(r.code)).map((r) => r.code))];
    if (options.strict && (dropped.length > 0 || unsortable.length > 0)) {
      const what = [...dropped, ...unsortable.map((c) => `_sort=${c}`)];
      throw new OperationOutcomeError(badRequest(`No source can evaluate ${what.join(', ')} for ${type}`, what[0]));
    }
    const issues: OperationOutcomeIssue[] = [
      // Lenient: dropped, but said so, since the result is wider (or in another order) than asked.
      ...dropped.map((code) => droppedIssue(`No source can evaluate ${code} for ${type}: it was not applied, so the result is not narrowed by it`, code)),
      ...unsortable.map((code) => droppedIssue(`No source can sort ${type} by ${code}: the result is not sorted by it`, '_sort')),
    ];
    const sort = search.sort.filter((r) => supported.has(r.code));
    const filters = rest.filter((f) => supported.has(f.code));
    // SMART v2 scope constraints (`patient/Observation.rs?category=…`) narrow the search itself, so
    // pages and totals hold only what the token may see; never dropped: a source that cannot
    // evaluate them is left out like any other. (The service still checks what comes back.)
    const narrowing = constraintSearch(context, type);
    if (narrowing) filters.push(...(parseSearchRequest(type, narrowing).filters ?? []));
    const plans: SourcePlan[] = [];
    const allowLocal = (l: SourceLocalId, source: FederatedSource) => {
      const key = links.patientOf(l.sourceId, l.localId);
      return key ? grant.allows(key, source, type) : grant.patients === '*';
    };

    for (const source of serving) {
      const capability = source.adapter.capabilities().resources[type];
      if (!capability) continue;
      const declared = declaredParams(source, type);
      const missing = filters.filter((f) => !declared.has(f.code)).map((f) => f.code);
      const unsorted = sort.filter((r) => !declared.has(r.code)).map((r) => r.code);
      if (missing.length > 0 || unsorted.length > 0) {
        const what = [...missing, ...unsorted.map((c) => `_sort=${c}`)].join(', ');
        issues.push(sourceIssue('not-supported', source.sourceId, `${source.name} cannot evaluate ${what}; its ${type} records are not in this result`));
        continue;
      }
      let patients: string[] | undefined;
      if (named) {
        patients = [
          ...named.keys.filter((k) => grant.allows(k, source, type)).flatMap((k) => links.localIds(k, source.sourceId)),
          ...named.local.filter((l) => l.sourceId === source.sourceId && allowLocal(l, source)).map((l) => l.localId),
        ];
        if (patients.length === 0) continue;
      } else if (!isPatientCompartmentType(type)) {
        if (!grant.allows(undefined, source, type)) continue;
      } else if (grant.patients !== '*') {
        const allowed = grant.patients;
        patients = allowed.filter((k) => grant.allows(k, source, type)).flatMap((k) => links.localIds(k, source.sourceId));
        if (patients.length === 0) continue;
      }
      const local = this.localizeFilters(type, filters, source.sourceId);
      if (!local) continue; // an _id or reference names only other sources' records
      plans.push({ source, query: { resourceType: type, filters: local, patients, sort } });
    }
    return { sources: plans, issues, grant, dropped, sort };
  }
}
