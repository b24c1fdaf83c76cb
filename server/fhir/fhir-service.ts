/**
 * The FHIR interactions over the federation, independent of HTTP: read, search (type and
 * Patient compartment), merged Patients and `$everything`. Routes translate HTTP to these
 * calls; tests and other server parts (audit, notifications) may call them directly.
 */
import { forbidden, matchesSearchRequest, Operator, OperationOutcomeError, notFound } from '@medplum/core';
import type { SortRule } from '@medplum/core';
import type { Bundle, OperationOutcomeIssue, Patient, Resource } from '@medplum/fhirtypes';
import { compartmentPatients, isPatientCompartmentType } from '../../adapters/embedded/patient-compartment.ts';
import { searchParamValues } from '../../adapters/embedded/element-paths.ts';
import { compareBySortRules } from '../../adapters/embedded/sort-rules.ts';
import type { AccessContext } from '../access/access-context.ts';
import type { AccessDecision, AccessGrant, AccessPolicy } from '../access/access-policy.ts';
import { constraintSearch, hasScopeConstraints, withinScopeConstraints } from '../access/scope-constraints.ts';
import type { SourceQuery } from '../../adapters/ehr-adapter.ts';
import { forEachBounded } from './bounded-concurrency.ts';
import { buildSearchset } from './bundle.ts';
import type { SearchsetEntry } from './bundle.ts';
import { CURSOR_TTL_MS, CursorSealer, MAX_BACK_PAGES, searchFingerprint } from './cursor.ts';
import type { CursorState, Positions } from './cursor.ts';
import { isPatientKey, ResourceIdCodec } from './ids.ts';
import type { DigestReverseMap } from './ids.ts';
import { mergePatient } from './merged-patient.ts';
import type { LocalPatient } from './merged-patient.ts';
import { mergeSources } from './merger.ts';
import { patientCandidates } from './patient-candidates.ts';
import type { MergedItem } from './merger.ts';
import { answeredStatus, FhirHttpError, outcome } from './outcomes.ts';
import type { PatientLinks } from './patient-links.ts';
import { denied, includeTypesOf, patientParams, Planner } from './planner.ts';
import type { SearchPlan } from './planner.ts';
import { ResourcePresenter } from './resource-presenter.ts';
import { callSource } from './source-call.ts';
import { MAX_COUNT, normalizedSearch } from './search-request.ts';
import type { FhirSearch } from './search-request.ts';
import type { FederatedSource, SourceDirectory } from './source-directory.ts';
import { subset, SUBSETTED } from './subsetting.ts';

export interface FhirServiceDeps {
  readonly sources: SourceDirectory;
  readonly links: PatientLinks;
  readonly ids: ResourceIdCodec;
  readonly policy: AccessPolicy;
  readonly cursors: CursorSealer;
  /** Per-source deadline for one call. */
  readonly sourceTimeoutMs: number;
}

/** What a FhirService is made from, as the application configures it. */
export interface FhirServiceOptions {
  readonly sources: SourceDirectory;
  readonly links: PatientLinks;
  readonly policy: AccessPolicy;
  /** Secret for cursors and digested ids. */
  readonly secret: string | Buffer;
  /** Where digested ids are kept for decoding (a shared store across replicas); in-process when absent. */
  readonly digests?: DigestReverseMap;
  readonly sourceTimeoutMs: number;
}

export function createFhirService(options: FhirServiceOptions): FhirService {
  const secret = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret;
  return new FhirService({
    sources: options.sources,
    links: options.links,
    ids: new ResourceIdCodec(secret, options.digests),
    policy: options.policy,
    cursors: new CursorSealer(secret),
    sourceTimeoutMs: options.sourceTimeoutMs,
  });
}

export interface CallContext {
  readonly access?: AccessContext;
  readonly signal?: AbortSignal;
}

export interface SearchContext extends CallContext {
  /** Absolute FHIR base for fullUrls and links. */
  readonly base: string;
  /** `Patient/[id]/[type]`: the patient id of the compartment. */
  readonly compartment?: string;
  readonly strict: boolean;
}

function notFoundError(what: string): OperationOutcomeError {
  return new OperationOutcomeError({ ...notFound, issue: [{ severity: 'error', code: 'not-found', details: { text: `${what} not found` } }] });
}

/** Whether a grant could allow any record of this type held by this source (decidable before asking it). */
function mayHold(grant: AccessGrant, source: FederatedSource, resourceType: string): boolean {
  if (!isPatientCompartmentType(resourceType)) return grant.allows(undefined, source, resourceType);
  return grant.patients === '*' || grant.patients.some((patient) => grant.allows(patient, source, resourceType));
}

type AllowedDecision = Extract<AccessDecision, { allowed: true }>;

/** What an allowed read's audit record will say, filled in as the read goes. */
interface ReadNotes {
  /** The patients of the record read, once known. */
  patients: readonly string[];
  /** The source asked (absent: those the decision opened). */
  readonly sources?: readonly string[];
  /** Why it was refused or failed, where that is known. */
  reason?: string;
  /** The status recorded for a served answer that withheld the record (200 when absent). */
  served?: number;
}

/** A compartment patient of a source record, looked up: its patient key (absent: not linked). */
interface LinkedPatient {
  readonly key: string | undefined;
}

function outsideConstraints(): OperationOutcomeError {
  return denied(403, 'The resource is outside the granted scope constraints');
}

/** Reads of `_include` targets one page may have in flight at once. */
const INCLUDE_READS_IN_FLIGHT = 8;

export class FhirService {
  readonly #deps: FhirServiceDeps;
  readonly planner: Planner;
  readonly presenter: ResourcePresenter;

  constructor(deps: FhirServiceDeps) {
    this.#deps = deps;
    this.planner = new Planner(deps);
    this.presenter = new ResourcePresenter(deps.ids, deps.links);
  }

  get sources(): SourceDirectory {
    return this.#deps.sources;
  }

  /** The id codec: a response waits for the ids it issued to be stored (`stored()`). */
  get ids(): ResourceIdCodec {
    return this.#deps.ids;
  }

  // ---------------------------------------------------------------- read

  async read(resourceType: string, id: string, ctx: CallContext): Promise<Resource> {
    if (resourceType === 'Patient' && isPatientKey(id)) return this.readPatient(id, ctx);
    await this.#deps.ids.prefetch([id]);
    const local = this.#deps.ids.decode(id);
    const source = local ? this.#deps.sources.get(local.sourceId) : undefined;
    if (!local || !source || !source.adapter.capabilities().resources[resourceType]) throw notFoundError(`${resourceType}/${id}`);
    // One decision, before the source is asked (a read no grant of the caller's can allow never
    // reaches it); its audit record is settled with the record's patients and the answer.
    const decision = await this.#deps.policy.decide(ctx.access, { resourceType, action: 'read', patients: [], includeTypes: [], awaitsRecord: true, id });
    if (!decision.allowed) throw denied(decision.status, decision.reason);
    const notes: ReadNotes = { patients: [], sources: [source.sourceId] };
    return this.#settled(decision, notes, async () => {
      // No grant reaches this type at this provider: refused whatever the id, so nothing leaks.
      if (!mayHold(decision.grant, source, resourceType)) {
        notes.reason = `no permission to read ${resourceType} held by ${source.name}`;
        throw denied(403, notes.reason);
      }
      const result = await callSource(source, this.#deps.sourceTimeoutMs, ctx.signal, (signal) =>
        source.adapter.read(resourceType, local.localId, signal),
      );
      if (!result.ok) {
        const timedOut = result.issue.code === 'timeout';
        notes.reason = timedOut ? 'the source did not answer in time' : 'the source did not answer';
        throw new FhirHttpError(timedOut ? 504 : 503, [{ ...result.issue, severity: 'error' }]);
      }
      const resource = result.value;
      if (!resource || resource.resourceType !== resourceType) {
        notes.reason = 'no such record';
        throw notFoundError(`${resourceType}/${id}`);
      }
      const linked = compartmentPatients(resource).map((local): LinkedPatient => ({ key: this.#deps.links.patientOf(source.sourceId, local) }));
      notes.patients = linked.map((p) => p.key).filter((k): k is string => !!k);
      // Another patient's record, or one the grants do not reach: as not-found as a made-up id.
      if (!this.#visible(decision.grant, source, resource, linked)) {
        notes.reason = 'no permission for this record';
        throw notFoundError(`${resourceType}/${id}`);
      }
      const presented = this.presenter.present(source, resource);
      if (!withinScopeConstraints(ctx.access, presented)) {
        notes.reason = 'outside the granted scope constraints';
        throw outsideConstraints();
      }
      return presented;
    });
  }

  /**
   * Answers an allowed `awaitsRecord` read and settles its audit record exactly once with the
   * status answered: the ids the answer issued stored, then `notes.served` or 200; otherwise the
   * status of whatever was thrown (an adapter's 400, a timeout's 504, an unexpected 500).
   */
  async #settled<T>(decision: AllowedDecision, notes: ReadNotes, answer: () => Promise<T>): Promise<T> {
    const settle = (status: number, reason?: string) =>
      decision.settle?.({ status, ...(reason ? { reason } : {}), patients: notes.patients, ...(notes.sources ? { sources: notes.sources } : {}) });
    let value: T;
    try {
      value = await answer();
      await this.#deps.ids.stored();
    } catch (err) {
      settle(answeredStatus(err), notes.reason ?? 'the read could not be answered');
      throw err;
    }
    settle(notes.served ?? 200, notes.reason);
    return value;
  }

  /**
   * Whether a source resource may be shown under a grant (its compartment patients, or none).
   * `linked`: its compartment patients' keys when the caller has looked them up already.
   */
  #visible(grant: AccessGrant, source: FederatedSource, resource: Resource, linked?: readonly LinkedPatient[]): boolean {
    const patients: readonly (string | LinkedPatient)[] = linked ?? compartmentPatients(resource);
    if (patients.length === 0) {
      return isPatientCompartmentType(resource.resourceType) ? grant.patients === '*' : grant.allows(undefined, source, resource.resourceType);
    }
    return patients.some((p) => {
      const key = typeof p === 'string' ? this.#deps.links.patientOf(source.sourceId, p) : p.key;
      return key ? grant.allows(key, source, resource.resourceType) : grant.patients === '*';
    });
  }

  async readPatient(key: string, ctx: CallContext): Promise<Patient> {
    const decision = await this.#decidePatientRead(key, ctx);
    const notes: ReadNotes = { patients: [key] };
    return this.#settled(decision, notes, async () => {
      const patient = await this.#servedPatient(key, decision.grant, ctx.signal, notes);
      if (!withinScopeConstraints(ctx.access, patient)) {
        notes.reason = 'outside the granted scope constraints';
        throw outsideConstraints();
      }
      return patient;
    });
  }

  /** The one decision of a merged Patient's read (`Patient/[key]`, `$everything`), audited once it is answered. */
  async #decidePatientRead(key: string, ctx: CallContext): Promise<AllowedDecision> {
    const decision = await this.#deps.policy.decide(ctx.access, { resourceType: 'Patient', action: 'read', patients: [key], includeTypes: [], awaitsRecord: true, id: key });
    if (!decision.allowed) throw denied(decision.status, decision.reason);
    return decision;
  }

  /** The merged Patient of a key as the grant allows it (the token's scope constraints not applied). */
  async #servedPatient(key: string, grant: AccessGrant, signal: AbortSignal | undefined, notes: ReadNotes): Promise<Patient> {
    const { patient, issues } = await this.#mergedPatient(key, grant, signal);
    if (patient) return patient;
    // Not found only if every source that may hold the person answered; otherwise say which could not.
    if (issues.length > 0) {
      notes.reason = 'the sources did not answer';
      throw new FhirHttpError(issues.every((i) => i.code === 'timeout') ? 504 : 503, issues.map((i) => ({ ...i, severity: 'error' })));
    }
    notes.reason = 'no such record';
    throw notFoundError(`Patient/${key}`);
  }

  /** The merged Patient of a key, with the source Patients it merges (`parts`, in source order). */
  async #mergedPatient(key: string, grant: AccessGrant, signal: AbortSignal | undefined): Promise<{ patient?: Patient; parts: LocalPatient[]; issues: OperationOutcomeIssue[] }> {
    const issues: OperationOutcomeIssue[] = [];
    const links = this.#deps.links.linksOf(key);
    const parts = await Promise.all(
      links.map(async (link): Promise<LocalPatient | undefined> => {
        const source = this.#deps.sources.get(link.sourceId);
        if (!source || !source.adapter.capabilities().resources.Patient || !grant.allows(key, source, 'Patient')) return undefined;
        const result = await callSource(source, this.#deps.sourceTimeoutMs, signal, (s) => source.adapter.read('Patient', link.localId, s));
        if (!result.ok) return void issues.push(result.issue);
        return result.value?.resourceType === 'Patient' ? { source, patient: result.value } : undefined;
      }),
    );
    const order = this.#deps.sources.all();
    const found = parts.filter((p): p is LocalPatient => !!p).sort((a, b) => order.indexOf(a.source) - order.indexOf(b.source));
    if (found.length === 0) return { parts: found, issues };
    const patient = mergePatient(key, found, this.presenter);
    // A source that may hold the person did not answer: what it holds is missing, and the
    // Patient says so wherever it is served (a read has no OperationOutcome to carry it).
    if (issues.length > 0) patient.meta = { ...patient.meta, tag: [...(patient.meta?.tag ?? []), SUBSETTED] };
    return { patient, parts: found, issues };
  }

  // ---------------------------------------------------------------- search

  /** The search as applied: dropped parameters left out, `_sort` as far as it is applied. */
  #links(ctx: SearchContext, search: FhirSearch, plan: SearchPlan): { path: string; selfParams: Array<[string, string]> } {
    const path = ctx.compartment !== undefined ? `Patient/${ctx.compartment}/${search.resourceType}` : search.resourceType;
    const sort = plan.sort.map((r) => `${r.descending ? '-' : ''}${r.code}`).join(',');
    const selfParams = search.params
      .filter(([name]) => !plan.dropped.includes(name.split(':')[0] as string) && !(name === '_sort' && sort === ''))
      .map(([name, value]): [string, string] => [name, name === '_sort' ? sort : value]);
    return { path, selfParams };
  }

  /**
   * What a cursor is bound to: the search as applied (what its next link repeats) and the caller,
   * so a cursor, and the total it carries, serves no one else.
   */
  #fingerprint(path: string, search: FhirSearch, params: ReadonlyArray<readonly [string, string]>, ctx: CallContext): string {
    return searchFingerprint(`${normalizedSearch(path, { ...search, params })}#${ctx.access?.clientId ?? ''}|${ctx.access?.subject ?? ''}`);
  }

  #url(ctx: SearchContext, path: string, params: ReadonlyArray<readonly [string, string]>, cursor?: string): string {
    const query = new URLSearchParams(params.map(([k, v]) => [k, v]));
    if (cursor) query.set('_cursor', cursor);
    const qs = query.toString();
    return `${ctx.base}/${path}${qs ? `?${qs}` : ''}`;
  }

  async search(search: FhirSearch, ctx: SearchContext): Promise<Bundle> {
    // Ids the search names (`_id`, references, the compartment), so digested ones decode on any replica.
    await this.#deps.ids.prefetch([ctx.compartment, ...search.filters.flatMap((f) => f.value.split(',').map((v) => v.slice(v.lastIndexOf('/') + 1)))]);
    if (search.resourceType === 'Patient' && ctx.compartment === undefined) return this.#searchPatients(search, ctx);
    const plan = await this.planner.plan(search, ctx.access, ctx.compartment, { strict: ctx.strict });
    const { path, selfParams } = this.#links(ctx, search, plan);
    // Hashing the search is only needed when a cursor is read or written.
    let fingerprintCache: string | undefined;
    const fingerprintOf = () => (fingerprintCache ??= this.#fingerprint(path, search, selfParams, ctx));
    const state = search.cursor ? this.#deps.cursors.open(search.cursor, fingerprintOf()) : undefined;
    const sourceCount = state?.sourceCount ?? Math.max(search.count, 1);
    const start: Positions = state?.positions ?? {};
    const merged = await mergeSources(
      plan.sources.map((p) => ({ source: p.source, query: p.query, position: start[p.source.sourceId] ?? { skip: 0, done: false } })),
      { count: search.count, sourceCount: search.count === 0 ? 0 : sourceCount, sort: plan.sort, wantTotal: search.total, accurateTotal: search.accurateTotal, timeoutMs: this.#deps.sourceTimeoutMs, signal: ctx.signal },
    );
    // The sources were asked to apply the scope constraints; whatever they handed back anyway is dropped here.
    const shown = merged.items
      .map((item) => ({ item, resource: this.presenter.present(item.source, item.resource) }))
      .filter((p) => withinScopeConstraints(ctx.access, p.resource));
    let total = search.total ? (state ? state.total : merged.total) : undefined;
    if (total !== undefined && hasScopeConstraints(ctx.access, search.resourceType)) {
      // The sources' total counts only what the token may see when the constraints went to them
      // as one search and each evaluates it in this node. Otherwise (an upstream may ignore the
      // parameter and count what it hides) it is recounted when this is the only page, else left out.
      const countedExactly =
        constraintSearch(ctx.access, search.resourceType) !== undefined &&
        shown.length === merged.items.length &&
        plan.sources.every((p) => p.source.adapter.evaluatesSearchItself === true);
      if (!countedExactly) total = !state && !merged.more && search.count > 0 ? shown.length : undefined;
    }
    const offset = state?.offset ?? 0;
    const next = merged.more && search.count > 0
      ? this.#deps.cursors.seal({
          search: fingerprintOf(), sourceCount, positions: merged.positions,
          back: [...(state?.back ?? []), start].slice(-MAX_BACK_PAGES), offset: offset + merged.items.length, total,
          expires: Date.now() + CURSOR_TTL_MS,
        })
      : undefined;
    const previous = state && state.back.length > 0
      ? this.#deps.cursors.seal({
          search: fingerprintOf(), sourceCount, positions: state.back[state.back.length - 1] as Positions,
          back: state.back.slice(0, -1), offset: Math.max(0, offset - search.count), total, expires: Date.now() + CURSOR_TTL_MS,
        })
      : undefined;
    const entries = await this.#entries(shown, search, plan, ctx);
    return buildSearchset({
      base: ctx.base,
      self: this.#url(ctx, path, selfParams, search.cursor),
      next: next ? this.#url(ctx, path, selfParams, next) : undefined,
      previous: previous ? this.#url(ctx, path, selfParams, previous) : undefined,
      total,
      entries: search.summary === 'count' ? [] : entries.list,
      outcome: outcome([...plan.issues, ...merged.issues, ...entries.issues]),
    });
  }

  /** Subsets presented matches and adds `_include`/`_revinclude` entries. */
  async #entries(matches: ReadonlyArray<{ item: MergedItem; resource: Resource }>, search: FhirSearch, plan: SearchPlan, ctx: SearchContext): Promise<{ list: SearchsetEntry[]; issues: OperationOutcomeIssue[] }> {
    const list: SearchsetEntry[] = matches.map(({ resource }) => ({ resource: subset(resource, search.summary, search.elements), mode: 'match' }));
    const issues = await this.#include(matches.map((m) => m.item), search, plan.grant, list, ctx);
    return { list, issues };
  }

  /**
   * Appends the `_include`/`_revinclude` entries of a page to `list`. `origins` are the source
   * records behind the page's matches (a merged Patient's are its sources' own Patients). Each
   * (source, type, id) is read once, a few at a time, so a page cannot flood a source.
   */
  async #include(origins: readonly MergedItem[], search: FhirSearch, grant: AccessGrant, list: SearchsetEntry[], ctx: CallContext): Promise<OperationOutcomeIssue[]> {
    const issues: OperationOutcomeIssue[] = [];
    if (search.include.length === 0 && search.revInclude.length === 0) return issues;
    const signal = ctx.signal;
    const seen = new Set(list.map((e) => `${e.resource.resourceType}/${e.resource.id}`));
    const add = (resource: Resource) => {
      const key = `${resource.resourceType}/${resource.id}`;
      if (seen.has(key) || !withinScopeConstraints(ctx.access, resource)) return;
      seen.add(key);
      list.push({ resource, mode: 'include' });
    };
    const reads = new Map<string, { source: FederatedSource; type: string; localId: string }>();
    const patientKeys = new Set<string>();
    for (const target of search.include) {
      for (const { source, resource } of origins) {
        for (const value of searchParamValues(resource, target.searchParam)) {
          const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(String((value as { reference?: unknown }).reference ?? ''));
          if (!m || (target.targetType && m[1] !== target.targetType)) continue;
          const [type, localId] = [m[1] as string, m[2] as string];
          const key = type === 'Patient' ? this.#deps.links.patientOf(source.sourceId, localId) : undefined;
          if (key) {
            patientKeys.add(key);
            continue;
          }
          if (!source.adapter.capabilities().resources[type] || !mayHold(grant, source, type)) continue;
          reads.set(`${source.sourceId}\u0000${type}\u0000${localId}`, { source, type, localId });
        }
      }
    }
    const tasks: Array<Promise<void>> = [
      forEachBounded([...reads.values()], INCLUDE_READS_IN_FLIGHT, async ({ source, type, localId }) => {
        const r = await callSource(source, this.#deps.sourceTimeoutMs, signal, (s) => source.adapter.read(type, localId, s));
        if (!r.ok) return void issues.push(r.issue);
        if (r.value && this.#visible(grant, source, r.value)) add(this.presenter.present(source, r.value));
      }),
    ];
    for (const key of patientKeys) {
      if (grant.patients !== '*' && !grant.patients.includes(key)) continue;
      tasks.push(this.#mergedPatient(key, grant, signal).then((r) => (issues.push(...r.issues), r.patient && add(r.patient))));
    }
    for (const target of search.revInclude) {
      const bySource = new Map<FederatedSource, Resource[]>();
      for (const { source, resource } of origins) bySource.set(source, [...(bySource.get(source) ?? []), resource]);
      // Records pointing at source Patients are that patient's compartment: asked as such.
      const byPatient = patientParams(target.resourceType).includes(target.searchParam);
      for (const [source, resources] of bySource) {
        const capability = source.adapter.capabilities().resources[target.resourceType];
        if (!capability?.searchParams.includes(target.searchParam)) continue;
        const patients = byPatient && resources.every((r) => r.resourceType === 'Patient') ? resources.map((r) => r.id as string) : undefined;
        const query: SourceQuery = patients
          ? { resourceType: target.resourceType, filters: [], patients, count: MAX_COUNT }
          : { resourceType: target.resourceType, filters: [{ code: target.searchParam, operator: Operator.EQUALS, value: resources.map((r) => `${r.resourceType}/${r.id}`).join(',') }], count: MAX_COUNT };
        tasks.push(
          callSource(source, this.#deps.sourceTimeoutMs, signal, (s) => source.adapter.search(query, s)).then((r) => {
            if (!r.ok) return void issues.push(r.issue);
            for (const resource of r.value.resources) if (this.#visible(grant, source, resource)) add(this.presenter.present(source, resource));
          }),
        );
      }
    }
    await Promise.all(tasks);
    return issues;
  }

  /** Patient searches run over merged Patients, so every criterion sees the whole person. */
  async #searchPatients(search: FhirSearch, ctx: SearchContext): Promise<Bundle> {
    const decision = await this.#deps.policy.decide(ctx.access, { resourceType: 'Patient', action: 'search', patients: [], includeTypes: includeTypesOf(search) });
    if (!decision.allowed) throw denied(decision.status, decision.reason);
    const grant = decision.grant;
    const path = 'Patient';
    const fingerprint = this.#fingerprint(path, search, search.params, ctx);
    const state = search.cursor ? this.#deps.cursors.open(search.cursor, fingerprint) : undefined;
    const visible = grant.patients === '*' ? this.#deps.links.patients() : grant.patients;
    // The criteria go to the sources first: only persons who may match are read and merged.
    const candidates = await patientCandidates({ ...this.#deps, planner: this.planner }, search.filters, visible, grant, ctx.signal);
    const issues: OperationOutcomeIssue[] = [...candidates.issues];
    const persons = (await Promise.all(candidates.keys.map((key) => this.#mergedPatient(key, grant, ctx.signal))))
      .flatMap((r) => (issues.push(...r.issues), r.patient ? [{ patient: r.patient, parts: r.parts }] : []));
    // Providers' own Patients named by `_id`: found as a read finds them.
    for (const { sourceId, localId } of candidates.sourcePatients) {
      const source = this.#deps.sources.get(sourceId);
      if (!source?.adapter.capabilities().resources.Patient || !mayHold(grant, source, 'Patient')) continue;
      const r = await callSource(source, this.#deps.sourceTimeoutMs, ctx.signal, (s) => source.adapter.read('Patient', localId, s));
      if (!r.ok) issues.push(r.issue);
      else if (r.value?.resourceType === 'Patient' && this.#visible(grant, source, r.value)) {
        persons.push({ patient: this.presenter.present(source, r.value) as Patient, parts: [{ source, patient: r.value }] });
      }
    }
    const request = { resourceType: 'Patient' as const, filters: [...candidates.rest] };
    const sort: readonly SortRule[] = search.sort.length > 0 ? search.sort : [{ code: '_id' }];
    const matches = persons
      .filter((p) => withinScopeConstraints(ctx.access, p.patient) && (request.filters.length === 0 || matchesSearchRequest(p.patient, request)))
      .sort((a, b) => compareBySortRules(a.patient, b.patient, sort));
    const offset = state?.offset ?? 0;
    const page = matches.slice(offset, offset + search.count);
    const entries: SearchsetEntry[] = page.map((p) => ({ resource: subset(p.patient, search.summary, search.elements), mode: 'match' }));
    if (search.summary !== 'count') {
      const origins = page.flatMap((p) => p.parts.map((part) => ({ source: part.source, resource: part.patient })));
      issues.push(...(await this.#include(origins, search, grant, entries, ctx)));
    }
    const seal = (at: number) =>
      this.#deps.cursors.seal({ search: fingerprint, sourceCount: search.count, positions: {}, back: [], offset: at, expires: Date.now() + CURSOR_TTL_MS } satisfies CursorState);
    const selfParams = search.params as Array<[string, string]>;
    const dedup = new Map(issues.map((i) => [`${i.diagnostics}`, i]));
    return buildSearchset({
      base: ctx.base,
      self: this.#url(ctx, path, selfParams, search.cursor),
      next: search.count > 0 && offset + page.length < matches.length ? this.#url(ctx, path, selfParams, seal(offset + page.length)) : undefined,
      previous: offset > 0 && search.count > 0 ? this.#url(ctx, path, selfParams, seal(Math.max(0, offset - search.count))) : undefined,
      total: search.total ? matches.length : undefined,
      entries: search.summary === 'count' ? [] : entries,
      outcome: outcome([...dedup.values()]),
    });
  }

  /** `Patient/[key]/$everything`: the merged Patient and every compartment resource of every allowed source. */
  async everything(key: string, ctx: SearchContext): Promise<Bundle> {
    const decision = await this.#decidePatientRead(key, ctx);
    const notes: ReadNotes = { patients: [key] };
    return this.#settled(decision, notes, () => this.#everything(key, decision.grant, ctx, notes));
  }

  async #everything(key: string, grant: AccessGrant, ctx: SearchContext, notes: ReadNotes): Promise<Bundle> {
    const patient = await this.#servedPatient(key, grant, ctx.signal, notes);
    const types = this.#deps.sources.resourceTypes().filter((t) => t !== 'Patient' && isPatientCompartmentType(t));
    // A Patient outside the token's constraints is left out (its read audited as refused once the
    // rest is answered); the compartment's other records are not.
    const withheld = !withinScopeConstraints(ctx.access, patient);
    const entries: SearchsetEntry[] = withheld ? [] : [{ resource: patient, mode: 'match' }];
    const issues: OperationOutcomeIssue[] = [];
    const bundles = await Promise.all(
      types.map(async (type) => {
        const search: FhirSearch = { resourceType: type, filters: [], sort: [], count: MAX_COUNT, include: [], revInclude: [], total: false, accurateTotal: false, ignored: [], params: [] };
        try {
          return await this.search(search, { ...ctx, compartment: key });
        } catch (err) {
          // A type the caller may not see is left out of $everything rather than failing it.
          if (err instanceof OperationOutcomeError && (err.outcome.id === forbidden.id || err.outcome.id === notFound.id)) return undefined;
          throw err;
        }
      }),
    );
    for (const bundle of bundles) {
      for (const entry of bundle?.entry ?? []) {
        if (entry.search?.mode === 'outcome') issues.push(...((entry.resource as { issue?: OperationOutcomeIssue[] }).issue ?? []));
        else if (entry.resource) entries.push({ resource: entry.resource, mode: 'match' });
      }
      if (bundle?.link?.some((l) => l.relation === 'next')) {
        issues.push({ severity: 'information', code: 'too-costly', details: { text: `$everything returns at most ${MAX_COUNT} resources per type` } });
      }
    }
    if (withheld) {
      notes.served = 403;
      notes.reason = 'the Patient is outside the granted scope constraints (left out)';
    }
    return buildSearchset({
      base: ctx.base,
      self: `${ctx.base}/Patient/${key}/$everything`,
      total: entries.length,
      entries,
      outcome: outcome(issues),
    });
  }
}
