/**
 * The FHIR R4 REST plugin (registered under `/fhir`): capabilities, read, search by GET and
 * POST, Patient compartment search and `$everything`, over the federation (the FhirService it
 * is given, which other plugins may call directly too). `capabilityContributors` amend the
 * statement (e.g. SMART's oauth-uris extension). `request.accessContext`, set by the SMART
 * layer's onRequest hook, is what the access policy is asked about.
 */
import { hash } from 'node:crypto';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { buildCapabilityStatement } from '../../conformance/capability-statement.ts';
import type { CapabilityContributor } from '../../conformance/capability-statement.ts';
import { loadFhirDefinitions } from '../../adapters/fhir-definitions.ts';
import { isResourceType } from '@medplum/core';
import { FHIR_JSON } from '../plugins/errors.ts';
import { isFormEncoded, negotiateJson } from './content-negotiation.ts';
import type { FhirService } from './fhir-service.ts';
import { isPatientKey } from './ids.ts';
import { FhirHttpError } from './outcomes.ts';
import { MAX_COUNT, parseFhirSearch } from './search-request.ts';
import type { QueryInput, SummaryMode } from './search-request.ts';
import { subset } from './subsetting.ts';

export interface FhirPluginOptions {
  readonly service: FhirService;
  /** Absolute public URL of the FHIR base; derived from each request's Host when absent. */
  readonly publicBaseUrl?: string;
  readonly software: { readonly name: string; readonly version: string };
  /** Amend the generated CapabilityStatement (read at each build, so late additions count). */
  readonly capabilityContributors?: readonly CapabilityContributor[];
}

const TYPE_PARAM = { type: 'string', pattern: '^[A-Z][A-Za-z]{1,63}$' } as const;
const ID_PARAM = { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' } as const;

function strict(request: FastifyRequest): boolean {
  const prefer = request.headers.prefer;
  return typeof prefer === 'string' && /(^|[,;\s])handling=strict($|[,;\s])/.test(prefer);
}

function etagOf(body: string): string {
  // One-shot hash: cheaper than a Hash object on every read.
  return `W/"${hash('sha1', body, 'base64url').slice(0, 16)}"`;
}

export async function fhirPlugin(app: FastifyInstance, options: FhirPluginOptions): Promise<void> {
  loadFhirDefinitions();
  const { service } = options;
  const { sources, ids } = service;
  app.decorate('fhirService', service);
  await app.register(formbody, { bodyLimit: app.initialConfig.bodyLimit });

  const base = (request: FastifyRequest) =>
    options.publicBaseUrl?.replace(/\/$/, '') ?? `${request.protocol}://${request.host}${app.prefix}`;

  const served = (type: string) => {
    if (sources.serving(type).length > 0) return;
    const known = isResourceType(type);
    throw new FhirHttpError(404, [{ severity: 'error', code: 'not-supported', details: { text: known ? `No source serves ${type}` : `Unknown resource type ${type}` } }]);
  };

  app.addHook('onRequest', (request, _reply, done) => {
    try {
      negotiateJson((request.query as Record<string, unknown> | undefined)?._format, request.headers.accept);
      done();
    } catch (err) {
      done(err as Error);
    }
  });

  // Ids issued while answering are stored first: a client may take them to any replica. (Reads
  // and `$everything` store theirs in the service, before their audit record is settled.)
  const send = async (reply: FastifyReply, body: unknown) => {
    await ids.stored();
    return reply.type(FHIR_JSON).send(body);
  };

  // The statement is built from the base, what the sources declare now (an upstream's
  // rediscovered capabilities change it) and the contributors in place; nothing in it depends on
  // the caller. The cache key covers all three, so a changed input is never answered from cache.
  const capabilityCache = new Map<string, { key: string; body: string; etag: string }>();
  // Contributors are functions of the statement alone: their identity stands for their output.
  const contributorIds = new WeakMap<CapabilityContributor, number>();
  let contributorsSeen = 0;
  const contributorId = (c: CapabilityContributor) => {
    let id = contributorIds.get(c);
    if (id === undefined) contributorIds.set(c, (id = contributorsSeen++));
    return id;
  };
  app.get('/metadata', async (request, reply) => {
    const url = base(request);
    const declared = sources.all().map((s) => ({ sourceId: s.sourceId, capabilities: s.adapter.capabilities() }));
    const contributors = options.capabilityContributors ?? [];
    const key = hash('sha256', `${JSON.stringify(declared)}|${contributors.map(contributorId).join(',')}`, 'base64url');
    let cached = capabilityCache.get(url);
    if (cached?.key !== key) {
      const statement = buildCapabilityStatement({ base: url, sources: declared, software: options.software, maxCount: MAX_COUNT, contributors });
      const body = JSON.stringify(statement);
      cached = { key, body, etag: etagOf(body) };
      if (capabilityCache.size > 64) capabilityCache.clear(); // Host-derived bases: bounded
      capabilityCache.set(url, cached);
    }
    reply.header('etag', cached.etag);
    return send(reply, cached.body);
  });

  const search = async (request: FastifyRequest, reply: FastifyReply, type: string, query: QueryInput, compartment?: string) => {
    served(type);
    const parsed = parseFhirSearch(type, query, { strict: strict(request) });
    const bundle = await service.search(parsed, { access: request.accessContext, base: base(request), compartment, strict: strict(request), signal: abortSignal(reply) });
    return send(reply, bundle);
  };

  app.get<{ Params: { type: string }; Querystring: QueryInput }>(
    '/:type',
    { schema: { params: { type: 'object', properties: { type: TYPE_PARAM }, required: ['type'] } } },
    async (request, reply) => search(request, reply, request.params.type, request.query),
  );

  app.post<{ Params: { type: string }; Querystring: QueryInput; Body: QueryInput | undefined }>(
    '/:type/_search',
    { schema: { params: { type: 'object', properties: { type: TYPE_PARAM }, required: ['type'] } } },
    async (request, reply) => {
      if (request.body !== undefined && request.body !== null && !isFormEncoded(request.headers['content-type'])) {
        throw new FhirHttpError(415, [{ severity: 'error', code: 'not-supported', details: { text: 'POST _search takes an application/x-www-form-urlencoded body' } }]);
      }
      // URL and body parameters together, as FHIR allows.
      const merged: Record<string, string[]> = {};
      for (const source of [request.query, (request.body ?? {}) as QueryInput]) {
        for (const [k, v] of Object.entries(source)) if (v !== undefined) merged[k] = [...(merged[k] ?? []), ...(typeof v === 'string' ? [v] : v)];
      }
      return search(request, reply, request.params.type, merged);
    },
  );

  app.get<{ Params: { type: string; id: string }; Querystring: QueryInput }>(
    '/:type/:id',
    { schema: { params: { type: 'object', properties: { type: TYPE_PARAM, id: ID_PARAM }, required: ['type', 'id'] } } },
    async (request, reply) => {
      const { type, id } = request.params;
      served(type);
      // The request is checked before the read: once read, its audit record says what was answered.
      const q = request.query;
      const summary = typeof q._summary === 'string' && q._summary !== 'false' ? (q._summary as SummaryMode) : undefined;
      if (summary && !['true', 'data', 'text'].includes(summary)) {
        throw new FhirHttpError(400, [{ severity: 'error', code: 'invalid', details: { text: '_summary on read must be true, data, text or false' } }]);
      }
      const elements = typeof q._elements === 'string' ? q._elements.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
      if (elements?.some((e) => !/^[a-z][A-Za-z0-9]*$/.test(e))) {
        throw new FhirHttpError(400, [{ severity: 'error', code: 'invalid', details: { text: '_elements must list element names' } }]);
      }
      const resource = subset(await service.read(type, id, { access: request.accessContext, signal: abortSignal(reply) }), summary, elements);
      const body = JSON.stringify(resource);
      const etag = resource.meta?.versionId ? `W/"${resource.meta.versionId}"` : etagOf(body);
      reply.header('etag', etag);
      if (resource.meta?.lastUpdated) reply.header('last-modified', new Date(resource.meta.lastUpdated).toUTCString());
      if (request.headers['if-none-match'] === etag) return reply.code(304).send();
      return reply.type(FHIR_JSON).send(body);
    },
  );

  app.get<{ Params: { id: string; type: string }; Querystring: QueryInput }>(
    '/Patient/:id/:type',
    { schema: { params: { type: 'object', properties: { id: ID_PARAM, type: TYPE_PARAM }, required: ['id', 'type'] } } },
    async (request, reply) => search(request, reply, request.params.type, request.query, request.params.id),
  );

  // A read-only facade: writes, conditional writes and batches are 405, decided before any body is parsed.
  const readOnly = async (request: FastifyRequest, reply: FastifyReply) => {
    reply.header('allow', 'GET, HEAD');
    throw new FhirHttpError(405, [{ severity: 'error', code: 'not-supported', details: { text: `${request.method} is not supported: this server only reads and searches (GET, or POST [type]/_search)` } }]);
  };
  const refuse = { onRequest: readOnly, handler: async () => undefined };
  app.route({ method: 'POST', url: '/', ...refuse });
  app.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE'], url: '/:type', ...refuse });
  app.route({ method: ['POST', 'PUT', 'PATCH', 'DELETE'], url: '/:type/:id', ...refuse });

  app.get<{ Params: { id: string } }>(
    '/Patient/:id/$everything',
    { schema: { params: { type: 'object', properties: { id: ID_PARAM }, required: ['id'] } } },
    async (request, reply) => {
      if (!isPatientKey(request.params.id)) {
        throw new FhirHttpError(404, [{ severity: 'error', code: 'not-found', details: { text: `Patient/${request.params.id} not found` } }]);
      }
      const bundle = await service.everything(request.params.id, { access: request.accessContext, base: base(request), strict: strict(request), signal: abortSignal(reply) });
      return reply.type(FHIR_JSON).send(bundle);
    },
  );
}

/** Aborts source calls when the client goes away. */
function abortSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new Error('client closed the connection'));
  });
  return controller.signal;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The FHIR interactions, for other plugins inside the FHIR context (audit, notifications). */
    fhirService?: FhirService;
  }
}
