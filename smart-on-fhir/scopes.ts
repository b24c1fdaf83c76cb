/**
 * SMART scopes, v1 (`patient/Observation.read`) and v2 (`patient/Observation.rs?category=...`),
 * parsed into the one `ResourceScope` model the FHIR layer enforces. Unknown scopes are dropped,
 * never fatal: generic clients send extras and must still connect.
 */
import type { ResourceScope, ScopeInteraction, ScopeLevel } from '../server/access/access-context.ts';

const V1 = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*)$/;
const V2 = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.(c?r?u?d?s?)(\?[^\s]+)?$/;
const V1_MAP: Readonly<Record<string, string>> = { read: 'rs', write: 'cud', '*': 'cruds' };

/** Scopes that are not about resources: identity, launch context, refresh. */
export const CONTEXT_SCOPES = [
  'openid',
  'fhirUser',
  'profile',
  'launch',
  'launch/patient',
  'launch/encounter',
  'offline_access',
  'online_access',
] as const;
export type ContextScope = (typeof CONTEXT_SCOPES)[number];

/** The scopes the server supports, as published in `scopes_supported`. */
export const SUPPORTED_SCOPES: readonly string[] = [
  ...CONTEXT_SCOPES,
  'patient/*.rs',
  'user/*.rs',
  'system/*.rs',
  'patient/*.read',
  'user/*.read',
  'system/*.read',
];

export interface ParsedScopes {
  readonly resources: readonly ResourceScope[];
  readonly context: ReadonlySet<ContextScope>;
  /** Every understood scope, in request order, as given: what a grant echoes back. */
  readonly accepted: readonly string[];
  readonly dropped: readonly string[];
}

/** Parses one resource scope; undefined when it is not one (or is malformed). */
export function parseResourceScope(raw: string): ResourceScope | undefined {
  const v1 = V1.exec(raw);
  if (v1) {
    return {
      level: v1[1] as ScopeLevel,
      resourceType: v1[2]!,
      interactions: letters(V1_MAP[v1[3]!]!),
      raw,
    };
  }
  const v2 = V2.exec(raw);
  if (!v2 || v2[3] === '') return undefined;
  const constraints = v2[4] ? parseConstraints(v2[4].slice(1)) : undefined;
  if (constraints === null) return undefined;
  return {
    level: v2[1] as ScopeLevel,
    resourceType: v2[2]!,
    interactions: letters(v2[3]!),
    ...(constraints && constraints.length > 0 ? { constraints } : {}),
    raw,
  };
}

export function parseScopes(scope: string | undefined): ParsedScopes {
  const resources: ResourceScope[] = [];
  const context = new Set<ContextScope>();
  const accepted: string[] = [];
  const dropped: string[] = [];
  for (const raw of new Set((scope ?? '').split(/\s+/).filter(Boolean))) {
    if ((CONTEXT_SCOPES as readonly string[]).includes(raw)) {
      context.add(raw as ContextScope);
      accepted.push(raw);
      continue;
    }
    const parsed = parseResourceScope(raw);
    if (parsed) {
      resources.push(parsed);
      accepted.push(raw);
    } else {
      dropped.push(raw);
    }
  }
  return { resources, context, accepted, dropped };
}

/**
 * Whether `narrow` asks for no more than `wide`: same level, same or wildcard type, a subset of
 * the interactions, and at least the same constraints. Used for consent narrowing and refresh.
 */
export function scopeCovers(wide: ResourceScope, narrow: ResourceScope): boolean {
  if (wide.level !== narrow.level) return false;
  if (wide.resourceType !== '*' && wide.resourceType !== narrow.resourceType) return false;
  for (const i of narrow.interactions) if (!wide.interactions.has(i)) return false;
  const have = new Set((narrow.constraints ?? []).map(([c, v]) => `${c}=${v}`));
  for (const [c, v] of wide.constraints ?? []) if (!have.has(`${c}=${v}`)) return false;
  return true;
}

/**
 * The subset of `asked` that `granted` covers: each asked scope must be a granted scope itself or
 * be covered by one; context scopes must have been granted literally. Returns the kept scopes.
 */
export function narrowTo(granted: ParsedScopes, asked: ParsedScopes): string[] {
  const kept: string[] = [];
  for (const raw of asked.accepted) {
    if ((CONTEXT_SCOPES as readonly string[]).includes(raw)) {
      if (granted.context.has(raw as ContextScope)) kept.push(raw);
      continue;
    }
    const scope = parseResourceScope(raw)!;
    if (granted.resources.some((g) => scopeCovers(g, scope))) kept.push(raw);
  }
  return kept;
}

/** Whether any resource scope of this level was asked (e.g. `patient/` needs a patient in context). */
export function hasLevel(scopes: ParsedScopes, level: ScopeLevel): boolean {
  return scopes.resources.some((s) => s.level === level);
}

/** Category sub-scopes offered on the consent screen for Observation and Condition (ONC g10). */
export const CATEGORY_SUBSCOPES: Readonly<Record<string, readonly { system: string; code: string; label: string }[]>> = {
  Observation: [
    ['laboratory', 'Laboratory results'],
    ['vital-signs', 'Vital signs'],
    ['social-history', 'Social history'],
    ['survey', 'Surveys and questionnaires'],
    ['sdoh', 'Social determinants of health'],
    ['clinical-test', 'Clinical tests'],
  ].map(([code, label]) => ({ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: code!, label: label! })),
  Condition: [
    ['encounter-diagnosis', 'Encounter diagnoses'],
    ['problem-list-item', 'Problem list'],
    ['health-concern', 'Health concerns'],
  ].map(([code, label]) => ({
    system: code === 'health-concern' ? 'http://hl7.org/fhir/us/core/CodeSystem/condition-category' : 'http://terminology.hl7.org/CodeSystem/condition-category',
    code: code!,
    label: label!,
  })),
};

/** The category sub-scopes of a requested resource scope (v2 form), or none. */
export function categorySubScopes(scope: ResourceScope): { raw: string; label: string }[] {
  const options = CATEGORY_SUBSCOPES[scope.resourceType];
  if (!options || scope.constraints?.length) return [];
  const letters = [...'cruds'].filter((l) => scope.interactions.has(l as ScopeInteraction)).join('');
  return options.map((o) => ({
    raw: `${scope.level}/${scope.resourceType}.${letters}?category=${o.system}|${o.code}`,
    label: o.label,
  }));
}

function letters(s: string): ReadonlySet<ScopeInteraction> {
  return new Set([...s] as ScopeInteraction[]);
}

/** `a=b&c=d` → pairs; null when malformed. Values keep `system|code` as written. */
function parseConstraints(query: string): [string, string][] | null {
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    try {
      pairs.push([decodeURIComponent(part.slice(0, eq)), decodeURIComponent(part.slice(eq + 1))]);
    } catch {
      return null;
    }
  }
  return pairs;
}
