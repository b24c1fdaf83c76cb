/** The patient app's BFF routes: my network, signed actions, my access log, live notifications. */
import type { FastifyPluginAsync } from 'fastify';
import type { PatientActionParams, TypedData } from '../shared/src/api-types.ts';
import type { AccessLogFilter, AccessLogSource, NotificationHub, PatientDesk } from './desks.ts';
import { unavailable } from './desks.ts';
import { address, addressList, grantView, participant, providerView, relayOutcome, resourceTypeList, typedData } from './schemas.ts';
import { bearerOf, principalOf, requirePrincipal, type VerifyWebToken } from './web-principal.ts';

export interface PatientRoutesOptions {
  readonly verifyToken: VerifyWebToken;
  readonly desk?: PatientDesk;
  readonly accessLog?: AccessLogSource;
  readonly notifications?: NotificationHub;
}


const actionBody = {
  oneOf: [
    {
      type: 'object',
      properties: {
        action: { const: 'grant' },
        grant: {
          type: 'object',
          properties: {
            grantee: address,
            providers: addressList,
            resourceTypes: resourceTypeList,
            purpose: { type: 'string', enum: ['treatment', 'payment', 'operations', 'research', 'public-health'] },
            expiresAt: { type: 'integer', minimum: 0 },
          },
          required: ['grantee', 'providers', 'resourceTypes', 'purpose', 'expiresAt'],
          additionalProperties: false,
        },
      },
      required: ['action', 'grant'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: { action: { const: 'delegate' }, proxy: address, expiresAt: { type: 'integer', minimum: 0 } },
      required: ['action', 'proxy', 'expiresAt'],
      additionalProperties: false,
    },
    {
      type: 'object',
      properties: { action: { enum: ['revoke', 'undelegate', 'approve', 'decline', 'enroll', 'withdraw'] }, id: { type: 'string', minLength: 1, maxLength: 100 } },
      required: ['action', 'id'],
      additionalProperties: false,
    },
  ],
} as const;

export const patientRoutes: FastifyPluginAsync<PatientRoutesOptions> = async (app, options) => {
  app.addHook('onRequest', requirePrincipal(options.verifyToken));

  app.get('/network', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            me: participant,
            providers: { type: 'array', items: providerView },
            grants: { type: 'array', items: grantView },
            requests: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  id: { type: 'string' }, requester: participant, providers: grantView.properties.providers, resourceTypes: grantView.properties.resourceTypes,
                  purpose: { type: 'string' }, expiresAt: { type: 'number' }, status: { type: 'string' },
                },
                required: ['id', 'requester', 'providers', 'resourceTypes', 'purpose', 'expiresAt', 'status'],
              },
            },
            studies: {
              type: 'array',
              items: {
                type: 'object',
                properties: { id: { type: 'string' }, title: { type: 'string' }, researcher: participant, resourceTypes: grantView.properties.resourceTypes, status: { type: 'string' } },
                required: ['id', 'title', 'researcher', 'resourceTypes', 'status'],
              },
            },
            directory: { type: 'array', items: participant },
            blockNumber: { type: 'number' },
          },
          required: ['me', 'providers', 'grants', 'requests', 'studies', 'directory', 'blockNumber'],
        },
      },
    },
  }, async (request) => {
    if (!options.desk) throw unavailable('Your network');
    return options.desk.network(principalOf(request).subject);
  });

  app.post<{ Body: PatientActionParams }>('/actions/prepare', {
    schema: {
      body: actionBody,
      response: {
        200: { type: 'object', properties: { summary: { type: 'string' }, typedData }, required: ['summary', 'typedData'] },
      },
    },
  }, async (request) => {
    if (!options.desk) throw unavailable('Changing access');
    return options.desk.prepare(principalOf(request).subject, request.body);
  });

  app.post<{ Body: { typedData: TypedData; signature: string } }>('/actions/relay', {
    schema: {
      body: {
        type: 'object',
        properties: { typedData, signature: { type: 'string', pattern: '^0x[0-9a-fA-F]{130,}$', maxLength: 4000 } },
        required: ['typedData', 'signature'],
        additionalProperties: false,
      },
      response: { 200: relayOutcome },
    },
  }, async (request) => {
    if (!options.desk) throw unavailable('Changing access');
    return options.desk.relay(principalOf(request).subject, request.body.typedData, request.body.signature);
  });

  app.get<{ Querystring: AccessLogFilter }>('/access-log', {
    schema: {
      querystring: {
        type: 'object',
        properties: {
          who: address,
          type: { type: 'string', pattern: '^[A-Z][A-Za-z]{0,63}$' },
          outcome: { type: 'string', enum: ['allowed', 'refused'] },
        },
        additionalProperties: false,
      },
      response: {
        200: {
          type: 'object',
          properties: {
            entries: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  id: { type: 'string' }, recorded: { type: 'string' }, who: participant, client: { type: 'string' }, resourceType: { type: 'string' },
                  action: { type: 'string' }, outcome: { type: 'string' }, purpose: { type: 'string' }, sources: { type: 'array', items: { type: 'string' } },
                },
                required: ['id', 'recorded', 'who', 'resourceType', 'action', 'outcome', 'sources'],
              },
            },
          },
          required: ['entries'],
        },
      },
    },
  }, async (request) => {
    if (!options.accessLog) throw unavailable('The access log');
    const q = request.query;
    const filter: AccessLogFilter = { ...(q.who ? { who: q.who.toLowerCase() } : {}), ...(q.type ? { type: q.type } : {}), ...(q.outcome ? { outcome: q.outcome } : {}) };
    return { entries: await options.accessLog.accessLog(principalOf(request).subject, filter, bearerOf(request) ?? '') };
  });

  // Open event streams end when the server closes, so shutdown never waits on a browser tab.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
  });

  /** Server-sent events: recent notifications first, then live ones; a comment every 25 s keeps proxies from closing it. */
  app.get('/events', async (request, reply) => {
    if (!options.notifications) throw unavailable('Live notifications');
    const hub = options.notifications;
    const { subject } = principalOf(request);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (n: unknown) => res.write(`data: ${JSON.stringify(n)}\n\n`);
    res.write(': connected\n\n');
    for (const n of hub.recent(subject)) send(n);
    const unsubscribe = hub.subscribe(subject, send);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 25_000);
    const close = () => { clearInterval(keepAlive); unsubscribe(); streams.delete(end); };
    const end = () => { close(); res.end(); };
    streams.add(end);
    request.raw.on('close', close);
    res.on('error', close);
  });
};
