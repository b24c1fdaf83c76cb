/**
 * A real FHIR R4 server on loopback for the upstream adapter's tests and benchmark: a
 * @medplum/fhir-router MemoryRepository behind Fastify, with a CapabilityStatement, paging with
 * absolute `next` links, optional HTTP basic or SMART Backend Services auth (a token endpoint that
 * verifies client assertions against the client's JWKS URL with jose, as Epic does), and fault
 * switches a test flips while it runs.
 */
import { randomBytes } from 'node:crypto';
import { matchesSearchRequest, parseSearchRequest, type SearchRequest } from '@medplum/core';
import type { CapabilityStatement, Resource, ResourceType } from '@medplum/fhirtypes';
import { MemoryRepository } from '@medplum/fhir-router';
import formbody from '@fastify/formbody';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { compareBySortRules } from '../../../adapters/embedded/sort-rules.ts';
import { loadFhirDefinitions } from '../../../adapters/fhir-definitions.ts';

export interface Faults {
  /** Delay before every FHIR answer (metadata, reads, searches). */
  latencyMs: number;
  /** Accept FHIR requests and never answer them. */
  hang: boolean;
  /** The next FHIR requests answer these statuses, one each, first to last. */
  failNext: { status: number; retryAfter?: string }[];
  /** Every FHIR request answers this status while set (a dead upstream). */
  failAll?: number;
  malformedJson: boolean;
  /** Searches add a Patient entry to every page and reads answer a Patient. */
  wrongTypes: boolean;
  /** Searches add an entry of the asked type whose id is not a FHIR id. */
  badIds: boolean;
  /** Searches ignore the patient restriction (a broken upstream that would leak other patients). */
  ignorePatientFilter: boolean;
  /** Searches silently ignore these parameters (as many upstreams do with what they cannot evaluate). */
  ignoredParams: string[];
  /** Searches return every match on one page, whatever `_count` says. */
  ignoreCount: boolean;
  /** Searches ignore `_sort` and answer in insertion order (as many upstreams do). */
  ignoreSort: boolean;
  /** `next` links use this origin instead of the real one (a HAPI behind a proxy). */
  advertisedOrigin?: string;
  /** Epic's rule: Observation searches need `code` or `category`. */
  observationNeedsCodeOrCategory: boolean;
  /** The token endpoint answers this status (an identity provider that is down). */
  tokenEndpointStatus?: number;
}

export interface UpstreamAuthConfig {
  readonly type: 'none' | 'basic' | 'bearer' | 'backend-services';
  /** The one token a `bearer` upstream accepts. */
  readonly token?: string;
  readonly username?: string;
  readonly password?: string;
  readonly clientId?: string;
  /** Where the registered client's public keys are fetched (the node's JWKS URL). */
  readonly jwksUrl?: string;
  readonly tokenLifetimeSeconds?: number;
}

export interface TestUpstreamOptions {
  readonly basePath?: string;
  readonly auth?: UpstreamAuthConfig;
  readonly resources?: readonly Resource[];
  /** Types the CapabilityStatement lists, with their search parameters. */
  readonly capability?: Readonly<Record<string, readonly string[]>>;
}

export interface TestUpstream {
  readonly baseUrl: string;
  readonly tokenUrl: string;
  readonly faults: Faults;
  readonly counters: { fhirRequests: number; searches: number; tokenRequests: number; tokensRejected: number };
  /** Requests seen (path and query), newest last. */
  readonly seen: string[];
  /** Forgets every issued token: the next FHIR request with one gets 401. */
  revokeTokens(): void;
  close(): Promise<void>;
}

export const DEFAULT_CAPABILITY: Readonly<Record<string, readonly string[]>> = {
  Patient: ['_id', 'name', 'birthdate', 'gender', 'identifier'],
  Observation: ['patient', 'subject', 'code', 'category', 'date', 'status'],
  MedicationRequest: ['patient', 'subject', 'status', 'intent'],
  Condition: ['patient', 'subject', 'code', 'clinical-status'],
  Organization: ['name', 'identifier'],
  // In the patient compartment but without a patient parameter: must not be declared by the adapter.
  Immunization: ['date', 'status'],
};

function freshFaults(): Faults {
  return { latencyMs: 0, hang: false, failNext: [], malformedJson: false, wrongTypes: false, badIds: false, ignorePatientFilter: false, ignoredParams: [], ignoreCount: false, ignoreSort: false, observationNeedsCodeOrCategory: false };
}

export async function startTestUpstream(options: TestUpstreamOptions = {}): Promise<TestUpstream> {
  loadFhirDefinitions();
  const basePath = (options.basePath ?? '/fhir/R4').replace(/\/$/, '');
  const auth = options.auth ?? { type: 'none' };
  const capability = options.capability ?? DEFAULT_CAPABILITY;
  const repo = new MemoryRepository();
  const byType = new Map<string, Resource[]>();
  for (const resource of options.resources ?? []) {
    await repo.updateResource({ ...resource } as Resource & { id: string });
    byType.set(resource.resourceType, [...(byType.get(resource.resourceType) ?? []), resource]);
  }

  const faults = freshFaults();
  const counters = { fhirRequests: 0, searches: 0, tokenRequests: 0, tokensRejected: 0 };
  const seen: string[] = [];
  const tokens = new Map<string, number>();
  const seenJti = new Set<string>();
  const pendingHangs = new Set<FastifyReply>();
  const jwks = auth.jwksUrl ? createRemoteJWKSet(new URL(auth.jwksUrl), { cacheMaxAge: 60_000 }) : undefined;

  const app: FastifyInstance = Fastify({ logger: false, forceCloseConnections: true });
  await app.register(formbody);
  let origin = '';

  const send = (reply: FastifyReply, status: number, body: unknown) =>
    reply.code(status).type('application/fhir+json').send(faults.malformedJson && status === 200 ? '{"resourceType":"Bundle","entry":[{' : JSON.stringify(body));

  /** Fault switches and auth, in front of every FHIR route; answers and returns true when it handled the request. */
  const gate = async (request: FastifyRequest, reply: FastifyReply, open: boolean): Promise<boolean> => {
    counters.fhirRequests += 1;
    seen.push(request.url);
    if (faults.hang) {
      pendingHangs.add(reply);
      return new Promise(() => undefined);
    }
    if (faults.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, faults.latencyMs));
    const failure = faults.failNext.shift();
    const status = failure?.status ?? faults.failAll;
    if (status !== undefined) {
      if (failure?.retryAfter) reply.header('retry-after', failure.retryAfter);
      send(reply, status, outcome('transient', `injected ${status}`));
      return true;
    }
    if (open || auth.type === 'none') return false;
    const header = request.headers.authorization ?? '';
    if (auth.type === 'basic') {
      const expected = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
      if (header === expected) return false;
    } else if (auth.type === 'bearer') {
      if (header === `Bearer ${auth.token}`) return false;
    } else {
      const token = header.startsWith('Bearer ') ? header.slice(7) : '';
      const expires = tokens.get(token);
      if (expires !== undefined && expires > Date.now()) return false;
      counters.tokensRejected += 1;
    }
    send(reply, 401, outcome('login', 'unauthorized'));
    return true;
  };

  app.get(`${basePath}/metadata`, async (request, reply) => {
    if (await gate(request, reply, true)) return reply;
    return send(reply, 200, capabilityStatement(capability));
  });

  app.get(`${basePath}/.well-known/smart-configuration`, async (_request, reply) =>
    reply.send({ token_endpoint: `${origin}/oauth2/token`, grant_types_supported: ['client_credentials'], token_endpoint_auth_methods_supported: ['private_key_jwt'], token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'] }),
  );

  app.post('/oauth2/token', async (request, reply) => {
    counters.tokenRequests += 1;
    if (faults.tokenEndpointStatus) return reply.code(faults.tokenEndpointStatus).send({ error: 'temporarily_unavailable' });
    const form = request.body as Record<string, string>;
    const tokenUrl = `${origin}/oauth2/token`;
    if (form.grant_type !== 'client_credentials') return reply.code(400).send({ error: 'unsupported_grant_type' });
    if (form.client_assertion_type !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer' || !jwks) {
      return reply.code(400).send({ error: 'invalid_request' });
    }
    try {
      const { payload, protectedHeader } = await jwtVerify(form.client_assertion ?? '', jwks, {
        issuer: auth.clientId, subject: auth.clientId, audience: tokenUrl, algorithms: ['RS384', 'ES384'],
      });
      if (!protectedHeader.kid) throw new Error('no kid');
      if (typeof payload.jti !== 'string' || seenJti.has(payload.jti)) throw new Error('jti replayed');
      if (typeof payload.exp !== 'number' || payload.exp - Date.now() / 1000 > 300 + 5) throw new Error('exp too far');
      seenJti.add(payload.jti);
    } catch (error) {
      return reply.code(400).send({ error: 'invalid_client', error_description: (error as Error).message });
    }
    const token = randomBytes(24).toString('base64url');
    const lifetime = auth.tokenLifetimeSeconds ?? 300;
    tokens.set(token, Date.now() + lifetime * 1000);
    return reply.header('cache-control', 'no-store').send({ access_token: token, token_type: 'bearer', expires_in: lifetime, scope: form.scope });
  });

  app.get<{ Params: { type: string } }>(`${basePath}/:type`, async (request, reply) => {
    if (await gate(request, reply, false)) return reply;
    counters.searches += 1;
    const type = request.params.type;
    if (!capability[type]) return send(reply, 404, outcome('not-supported', 'unknown type'));
    const query = { ...(request.query as Record<string, string | string[]>) };
    const count = Math.min(Number(query._count ?? 20), 1000);
    const offset = Number(query._offset ?? 0);
    delete query._count;
    delete query._offset;
    if (type === 'Observation' && faults.observationNeedsCodeOrCategory && !query.code && !query.category) {
      return send(reply, 400, outcome('required', 'Must have either code or category.'));
    }
    if (faults.ignorePatientFilter) {
      delete query.patient;
      delete query.subject;
    }
    for (const name of faults.ignoredParams) delete query[name];
    let search: SearchRequest;
    try {
      search = parseSearchRequest(type as ResourceType, query);
    } catch {
      return send(reply, 400, outcome('invalid', 'bad search'));
    }
    // @medplum's matcher evaluates the shared `patient` expression slowly (~1 ms per resource), so
    // patient/subject references are compared here and only the other filters go through it.
    const refFilters = (search.filters ?? []).filter((f) => f.code === 'patient' || f.code === 'subject');
    const rest = { ...search, filters: (search.filters ?? []).filter((f) => !refFilters.includes(f)) };
    const matches = (byType.get(type) ?? []).filter((resource) =>
      refFilters.every((f) => f.value.split(',').includes(patientReference(resource) ?? '')) && matchesSearchRequest(resource, rest));
    if (search.sortRules && !faults.ignoreSort) matches.sort((a, b) => compareBySortRules(a, b, search.sortRules ?? []));
    const pageItems = faults.ignoreCount ? matches : matches.slice(offset, offset + count);
    const entry = pageItems.map((resource) => ({ fullUrl: `${origin}${basePath}/${type}/${resource.id}`, resource, search: { mode: 'match' } }));
    if (faults.badIds && pageItems[0]) entry.push({ fullUrl: `${origin}${basePath}/${type}/x`, resource: { ...pageItems[0], id: '../../Patient/p2' } as Resource, search: { mode: 'match' } });
    if (faults.wrongTypes) entry.push({ fullUrl: `${origin}${basePath}/Patient/intruder`, resource: { resourceType: 'Patient', id: 'intruder' } as Resource, search: { mode: 'match' } });
    const link = [{ relation: 'self', url: `${origin}${request.url}` }];
    if (!faults.ignoreCount && offset + count < matches.length) {
      const next = new URLSearchParams();
      for (const [name, value] of Object.entries(request.query as Record<string, string | string[]>)) {
        if (name === '_offset') continue;
        for (const v of Array.isArray(value) ? value : [value]) next.append(name, v);
      }
      next.set('_offset', String(offset + count));
      link.push({ relation: 'next', url: `${faults.advertisedOrigin ?? origin}${basePath}/${type}?${next.toString()}` });
    }
    return send(reply, 200, { resourceType: 'Bundle', type: 'searchset', total: matches.length, link, entry });
  });

  app.get<{ Params: { type: string; id: string } }>(`${basePath}/:type/:id`, async (request, reply) => {
    if (await gate(request, reply, false)) return reply;
    const { type, id } = request.params;
    if (faults.wrongTypes) return send(reply, 200, { resourceType: 'Patient', id });
    try {
      return send(reply, 200, await repo.readResource(type, id));
    } catch {
      return send(reply, 404, outcome('not-found', 'not found'));
    }
  });

  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  origin = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    baseUrl: `${origin}${basePath}/`,
    tokenUrl: `${origin}/oauth2/token`,
    faults,
    counters,
    seen,
    revokeTokens: () => tokens.clear(),
    close: async () => {
      for (const reply of pendingHangs) reply.raw.destroy();
      await app.close();
    },
  };
}

function patientReference(resource: Resource): string | undefined {
  const r = resource as { subject?: { reference?: string }; patient?: { reference?: string } };
  return r.subject?.reference ?? r.patient?.reference;
}

function outcome(code: string, diagnostics: string) {
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code, diagnostics }] };
}

function capabilityStatement(capability: Readonly<Record<string, readonly string[]>>): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    software: { name: 'test-upstream', version: '1' },
    rest: [{
      mode: 'server',
      resource: Object.entries(capability).map(([type, params]) => ({
        type: type as ResourceType,
        interaction: [{ code: 'read' }, { code: 'search-type' }],
        searchParam: params.map((name) => ({ name, type: name === 'date' || name === 'birthdate' ? 'date' : 'token' })),
      })),
    }],
  };
}
