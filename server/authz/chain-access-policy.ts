/**
 * The chain-backed AccessPolicy: effective access = token scopes ∩ permission snapshot ∩ patient
 * compartment (launch context). Fails closed with 503 while the snapshots cannot be known fresh
 * enough. Grant times are checked at each decision, so an expired grant stops working at its
 * expiry even when no block arrives.
 */
import type { AccessContext, ResourceScope, ScopeInteraction } from '../access/access-context.ts';
import type {
  AccessAction,
  AccessDecision,
  AccessGrant,
  AccessPolicy,
  AccessRequest,
  ReadSettlement,
  SourceRef,
} from '../access/access-policy.ts';
import type { PermissionEntry, PermissionSnapshot } from '../access/permission-snapshot.ts';
import type { SyncFreshness } from './sync-freshness.ts';

/** What the audit trail learns of one decision (addresses and type names only, no PHI). */
export interface AccessDecisionRecord {
  readonly at: number;
  readonly subject: string | undefined;
  readonly clientId: string | undefined;
  readonly tokenId: string | undefined;
  readonly resourceType: string;
  readonly action: AccessAction;
  /** Patients the access concerns: those named, or those the narrowed search may return. */
  readonly patients: readonly string[];
  /** Sources the decision lets the planner ask. */
  readonly sources: readonly string[];
  readonly purpose: string | undefined;
  readonly outcome: 'allowed' | 'refused';
  /** The HTTP status answered: a decision's own (200, 403, 404, 503), or how a settled read ended. */
  readonly status: number;
  readonly reason?: string;
}

export interface SnapshotProvider {
  get(subject: string): Promise<PermissionSnapshot>;
}

export interface ChainAccessPolicyOptions {
  readonly snapshots: SnapshotProvider;
  readonly freshness: SyncFreshness;
  /** The configured sources, to tell the audit trail which ones a decision opens. */
  readonly sources?: () => readonly SourceRef[];
  readonly onDecision?: (record: AccessDecisionRecord) => void;
  /** Clock in ms (tests move it to cross an expiry). */
  readonly now?: () => number;
}

const INTERACTION: Record<AccessAction, ScopeInteraction> = { read: 'r', search: 's' };

export class ChainAccessPolicy implements AccessPolicy {
  readonly #o: ChainAccessPolicyOptions;

  constructor(options: ChainAccessPolicyOptions) {
    this.#o = options;
  }

  async decide(context: AccessContext | undefined, request: AccessRequest): Promise<AccessDecision> {
    const { result, record } = await this.#decide(context, request);
    if (!request.awaitsRecord || !result.allowed) {
      this.#o.onDecision?.(record);
      return result;
    }
    // Decided before the record is known: audited once the read ends, naming the record's patients.
    let settled = false;
    const settle = (outcome: ReadSettlement) => {
      if (settled) return;
      settled = true;
      const { status, reason, patients, sources = record.sources } = outcome;
      this.#o.onDecision?.({ ...record, patients, sources, status, outcome: status === 200 ? 'allowed' : 'refused', ...(reason ? { reason } : {}) });
    };
    return { ...result, settle };
  }

  async #decide(
    context: AccessContext | undefined,
    request: AccessRequest,
  ): Promise<{ result: AccessDecision; record: AccessDecisionRecord }> {
    const nowMs = (this.#o.now ?? Date.now)();
    const base = {
      at: nowMs,
      subject: context?.subject,
      clientId: context?.clientId,
      tokenId: context?.tokenId,
      resourceType: request.resourceType,
      action: request.action,
      purpose: context?.purpose,
    };
    const refuse = (status: 403 | 404 | 503, reason: string, patients: readonly string[] = request.patients) => ({
      result: { allowed: false, status, reason } as const,
      record: { ...base, patients, sources: [], outcome: 'refused', status, reason } as const,
    });

    if (!context) return refuse(403, 'no access context: authentication is required');
    const verdict = this.#o.freshness.verdict(nowMs);
    if (!verdict.fresh) return refuse(503, verdict.detail);

    // The user's own fhirUser record, when the token was granted fhirUser: exactly that resource,
    // whatever the resource scopes (SMART App Launch: apps read the user they were told about).
    if (request.action === 'read' && request.id !== undefined && context.fhirUser === `${request.resourceType}/${request.id}`) {
      const own: AccessGrant = { patients: '*', allows: (patient, _source, type) => type === request.resourceType && (patient === undefined || patient === request.id) };
      return { result: { allowed: true, grant: own }, record: { ...base, patients: request.patients, sources: [], outcome: 'allowed', status: 200 } };
    }

    const scopes = scopesFor(context.scopes, request.resourceType, request.action);
    if (scopes.length === 0) return refuse(403, `the token's scopes do not allow ${request.action} of ${request.resourceType}`);

    let snapshot: PermissionSnapshot;
    try {
      snapshot = await this.#o.snapshots.get(context.subject);
    } catch {
      return refuse(503, 'the permission store is unavailable');
    }
    const nowSeconds = Math.floor(nowMs / 1000);
    const rules = new EffectiveAccess(context, snapshot, nowSeconds);

    // Patient-level scopes confine the request to the launch patient (the compartment).
    for (const patient of request.patients) {
      if (!rules.compartmentAllows(patient, request.resourceType, request.action)) {
        // A read of another patient's record: saying more than "not found" would leak its existence.
        return refuse(request.action === 'read' ? 404 : 403, 'the token is confined to another patient');
      }
      if (!rules.hasAnyFor(patient)) {
        // The caller has nothing to do with this patient: saying more would leak existence.
        return refuse(request.action === 'read' ? 404 : 403, 'no permission for this patient');
      }
      if (!rules.allowsType(patient, request.resourceType, request.action)) {
        return refuse(403, `no permission to ${request.action} ${request.resourceType} of this patient`);
      }
    }
    const patients = request.patients.length > 0 ? [...request.patients] : rules.patientsFor(request.resourceType, request.action);

    const grant: AccessGrant = {
      patients,
      allows: (patient, source, resourceType) => rules.allows(patient, source.provider, resourceType, request.action),
    };
    const providers = rules.providersFor(patients, request.resourceType, request.action);
    const sources = (this.#o.sources?.() ?? [])
      .filter((s) => providers === '*' || providers.has(s.provider.toLowerCase()))
      .map((s) => s.sourceId);
    return {
      result: { allowed: true, grant },
      record: { ...base, patients, sources, outcome: 'allowed', status: 200 },
    };
  }
}

function scopesFor(scopes: readonly ResourceScope[], resourceType: string, action: AccessAction): ResourceScope[] {
  const letter = INTERACTION[action];
  return scopes.filter((s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.interactions.has(letter));
}

/** A snapshot's entries in force at one second for one purpose, indexed by patient. */
interface LiveEntries {
  readonly key: string;
  readonly all: readonly PermissionEntry[];
  readonly byPatient: ReadonlyMap<string, readonly PermissionEntry[]>;
  /** Patients an unnamed search may return, by type, action and compartment fence. */
  readonly patientsFor: Map<string, readonly string[]>;
}

/** Snapshots are immutable values: their live entries are computed once per second and purpose. */
const liveCache = new WeakMap<PermissionSnapshot, LiveEntries>();

function liveEntries(snapshot: PermissionSnapshot, nowSeconds: number, purpose: string | undefined): LiveEntries {
  const key = `${nowSeconds}|${purpose ?? ''}`;
  const cached = liveCache.get(snapshot);
  if (cached?.key === key) return cached;
  const all = snapshot.entries.filter(
    (e) => e.notBefore <= nowSeconds && (e.expiresAt === 0 || e.expiresAt > nowSeconds) && purposeMatches(e, purpose),
  );
  const byPatient = new Map<string, PermissionEntry[]>();
  for (const e of all) {
    const list = byPatient.get(e.patient);
    if (list) list.push(e);
    else byPatient.set(e.patient, [e]);
  }
  const live = { key, all, byPatient, patientsFor: new Map<string, readonly string[]>() };
  liveCache.set(snapshot, live);
  return live;
}

/**
 * What a token's scopes say for one type and action: whether any scope allows it (either
 * letter: included resources are read as part of the search that includes them), and the launch
 * patient the request is fenced to (null for none).
 */
interface ScopeRule {
  readonly allowed: boolean;
  readonly fence: string | null;
}

/** Scope rules depend on the access context alone, which the SMART layer keeps per token. */
const scopeRuleCache = new WeakMap<AccessContext, Map<string, ScopeRule>>();

/** The intersection, evaluated at one instant. */
class EffectiveAccess {
  readonly #context: AccessContext;
  readonly #live: LiveEntries;

  constructor(context: AccessContext, snapshot: PermissionSnapshot, nowSeconds: number) {
    this.#context = context;
    this.#live = liveEntries(snapshot, nowSeconds, context.purpose);
    let rules = scopeRuleCache.get(context);
    if (!rules) scopeRuleCache.set(context, (rules = new Map()));
    this.#scopeRules = rules;
  }

  #of(patient: string): readonly PermissionEntry[] {
    return this.#live.byPatient.get(patient.toLowerCase()) ?? [];
  }

  /**
   * When only patient-level scopes allow this type, the request is confined to the launch
   * patient (the patient compartment; the subject itself without launch context). A user or
   * system scope that allows the type is bounded by the snapshot alone.
   */
  compartmentAllows(patient: string, resourceType: string, action: AccessAction): boolean {
    const fence = this.#scopeRule(resourceType, action).fence;
    return fence === null || fence === patient.toLowerCase();
  }

  #scopeRule(resourceType: string, action: AccessAction): ScopeRule {
    const key = `${resourceType}|${action}`;
    let rule = this.#scopeRules.get(key);
    if (rule === undefined) {
      const matching = [...scopesFor(this.#context.scopes, resourceType, action), ...scopesFor(this.#context.scopes, resourceType, other(action))];
      const fence = matching.length === 0 || matching.some((s) => s.level !== 'patient') ? null : (this.#context.patient ?? this.#context.subject).toLowerCase();
      rule = { allowed: matching.length > 0, fence };
      this.#scopeRules.set(key, rule);
    }
    return rule;
  }

  /** Per type and action, what the token's scopes say (see ScopeRule). */
  readonly #scopeRules: Map<string, ScopeRule>;

  hasAnyFor(patient: string): boolean {
    return this.#of(patient).length > 0;
  }

  allowsType(patient: string, resourceType: string, action: AccessAction): boolean {
    return this.#of(patient).some((e) => covers(e.resourceTypes, resourceType) && e.actions.includes(action));
  }

  /**
   * Providers whose records of this type some of these patients' entries cover (`*` = any):
   * what the audit trail names as the sources a decision opens.
   */
  providersFor(patients: readonly string[], resourceType: string, action: AccessAction): Set<string> | '*' {
    const out = new Set<string>();
    for (const p of patients) {
      for (const e of this.#of(p)) {
        if (!covers(e.resourceTypes, resourceType) || !e.actions.includes(action)) continue;
        if (e.providers === '*') return '*';
        for (const prov of e.providers) out.add(prov);
      }
    }
    return out;
  }

  /** Computed once per snapshot, second, purpose and fence: a grantee may hold thousands. */
  patientsFor(resourceType: string, action: AccessAction): readonly string[] {
    const fence = this.#scopeRule(resourceType, action).fence;
    const key = `${resourceType}|${action}|${fence ?? '*'}`;
    const cached = this.#live.patientsFor.get(key);
    if (cached) return cached;
    const out = new Set<string>();
    for (const e of this.#live.all) {
      if (covers(e.resourceTypes, resourceType) && e.actions.includes(action) && (fence === null || fence === e.patient.toLowerCase())) out.add(e.patient);
    }
    const patients = [...out];
    this.#live.patientsFor.set(key, patients);
    return patients;
  }

  allows(patient: string | undefined, provider: string, resourceType: string, action: AccessAction): boolean {
    if (!this.#scopeRule(resourceType, action).allowed) return false;
    const prov = provider.toLowerCase();
    if (patient === undefined) {
      // Outside any compartment (Medication, Organization, Practitioner): allowed through a live
      // entry that reaches this provider for this type and action, e.g. the pharmacy's grant of
      // MedicationRequest + Medication, or a patient's own entry at the providers holding its records.
      return this.#live.all.some((e) => covers(e.resourceTypes, resourceType) && coversProvider(e.providers, prov) && e.actions.includes(action));
    }
    if (!this.compartmentAllows(patient, resourceType, action)) return false;
    return this.#of(patient).some(
      (e) => covers(e.resourceTypes, resourceType) && coversProvider(e.providers, prov) && e.actions.includes(action),
    );
  }
}

const other = (action: AccessAction): AccessAction => (action === 'search' ? 'read' : 'search');

function covers(types: PermissionEntry['resourceTypes'], resourceType: string): boolean {
  return types === '*' || types.includes(resourceType);
}

function coversProvider(providers: PermissionEntry['providers'], provider: string): boolean {
  return providers === '*' || providers.includes(provider);
}

/**
 * A grant for one purpose of use covers requests asserting that purpose; `any` covers all.
 * Without an asserted purpose, research-only permissions (study enrolments) do not apply:
 * a study's data is readable for research only.
 */
function purposeMatches(entry: PermissionEntry, purpose: string | undefined): boolean {
  if (entry.purpose === 'any') return true;
  if (purpose === undefined) return entry.purpose !== 'research';
  return entry.purpose === purpose;
}
