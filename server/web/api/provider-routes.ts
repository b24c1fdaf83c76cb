/** The provider console's BFF routes: membership motions, linked patients, sources, SMART apps. */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { LinkRequest, ProposalRequest, ProviderDesk, SmartLauncher, SourcesStatus } from './desks.ts';
import { DeskError, unavailable } from './desks.ts';
import { address, grantView, participant, providerView, relayOutcome } from './schemas.ts';
import { principalOf, requirePrincipal, type VerifyWebToken } from './web-principal.ts';

export interface ProviderRoutesOptions {
  readonly verifyToken: VerifyWebToken;
  readonly desk?: ProviderDesk;
  readonly sources?: SourcesStatus;
  readonly smart?: SmartLauncher;
}

const motionParams = { type: 'object', properties: { id: { type: 'string', pattern: '^[0-9]{1,20}$' } }, required: ['id'] } as const;

export const providerRoutes: FastifyPluginAsync<ProviderRoutesOptions> = async (app, options) => {
  app.addHook('onRequest', requirePrincipal(options.verifyToken));

  /** The signed-in provider, if this node holds its key. */
  const actingProvider = (request: FastifyRequest): { desk: ProviderDesk; provider: string } => {
    if (!options.desk) throw unavailable('The provider console');
    const { subject } = principalOf(request);
    if (!options.desk.canActFor(subject)) {
      throw new DeskError(403, 'This node does not run the provider you signed in as.', 'Sign in with the key of a provider this node runs.');
    }
    return { desk: options.desk, provider: subject };
  };

  app.get('/network', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            me: providerView,
            providers: { type: 'array', items: providerView },
            proposals: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  id: { type: 'string' }, kind: { type: 'string' }, candidate: providerView, proposer: { type: 'string' },
                  votes: { type: 'array', items: { type: 'string' } }, needed: { type: 'number' }, open: { type: 'boolean' },
                },
                required: ['id', 'kind', 'candidate', 'proposer', 'votes', 'needed', 'open'],
              },
            },
            blockNumber: { type: 'number' },
          },
          required: ['me', 'providers', 'proposals', 'blockNumber'],
        },
      },
    },
  }, async (request) => {
    const { desk, provider } = actingProvider(request);
    return desk.network(provider);
  });

  app.post<{ Body: ProposalRequest }>('/proposals', {
    schema: {
      body: {
        oneOf: [
          {
            type: 'object',
            properties: { name: { type: 'string', minLength: 1, maxLength: 80 }, address, fhirBase: { type: 'string', pattern: '^https?://', maxLength: 200 } },
            required: ['name', 'address', 'fhirBase'],
            additionalProperties: false,
          },
          { type: 'object', properties: { remove: address }, required: ['remove'], additionalProperties: false },
        ],
      },
      response: { 200: relayOutcome },
    },
  }, async (request) => {
    const { desk, provider } = actingProvider(request);
    return desk.propose(provider, request.body);
  });

  app.post<{ Params: { id: string } }>('/proposals/:id/vote', { schema: { params: motionParams, response: { 200: relayOutcome } } }, async (request) => {
    const { desk, provider } = actingProvider(request);
    return desk.vote(provider, request.params.id);
  });

  app.post<{ Params: { id: string } }>('/proposals/:id/rescind', { schema: { params: motionParams, response: { 200: relayOutcome } } }, async (request) => {
    const { desk, provider } = actingProvider(request);
    return desk.rescind(provider, request.params.id);
  });

  app.get('/patients', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            patients: {
              type: 'array',
              items: {
                type: 'object',
                properties: { ...participant.properties, active: { type: 'boolean' }, grants: { type: 'array', items: grantView } },
                required: ['address', 'name', 'active', 'grants'],
              },
            },
            sources: { type: 'array', items: { type: 'string' } },
          },
          required: ['patients', 'sources'],
        },
      },
    },
  }, async (request) => {
    const { desk, provider } = actingProvider(request);
    return desk.patients(provider);
  });

  app.post<{ Body: LinkRequest }>('/patients/link', {
    schema: {
      body: {
        type: 'object',
        properties: { source: { type: 'string', minLength: 1, maxLength: 100 }, localId: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9\\-\\.]+$' }, address },
        required: ['source', 'localId', 'address'],
        additionalProperties: false,
      },
      response: { 200: relayOutcome },
    },
  }, async (request) => {
    const { desk, provider } = actingProvider(request);
    return desk.link(provider, { ...request.body, address: request.body.address.toLowerCase() });
  });

  app.post<{ Params: { address: string } }>('/patients/:address/end', {
    schema: { params: { type: 'object', properties: { address }, required: ['address'] }, response: { 200: relayOutcome } },
  }, async (request) => {
    const { desk, provider } = actingProvider(request);
    return desk.endRelationship(provider, request.params.address.toLowerCase());
  });

  app.get('/sources', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            sources: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  id: { type: 'string' }, kind: { type: 'string' }, provider: { type: 'string' }, healthy: { type: 'boolean' }, detail: { type: 'string' },
                  lagSeconds: { type: 'number' }, calls: { type: 'number' }, errors: { type: 'number' }, timeouts: { type: 'number' }, deadLetters: { type: 'number' },
                  queue: { type: 'object', properties: { waiting: { type: 'number' } }, required: ['waiting'] },
                },
                required: ['id', 'kind', 'provider', 'healthy'],
              },
            },
          },
          required: ['sources'],
        },
      },
    },
  }, async (request) => {
    const { provider } = actingProvider(request);
    if (!options.sources) throw unavailable('Source status');
    return { sources: await options.sources.sources(provider) };
  });

  app.get('/smart/clients', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            clients: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  clientId: { type: 'string' }, name: { type: 'string' }, type: { type: 'string' }, launchUrl: { type: 'string' },
                  redirectUris: { type: 'array', items: { type: 'string' } }, scopes: { type: 'string' },
                },
                required: ['clientId', 'name', 'type', 'redirectUris', 'scopes'],
              },
            },
          },
          required: ['clients'],
        },
      },
    },
  }, async (request) => {
    actingProvider(request);
    if (!options.smart) throw unavailable('SMART app launch');
    return { clients: await options.smart.clients() };
  });

  app.post<{ Body: { clientId: string; patient: string } }>('/smart/launch', {
    schema: {
      body: { type: 'object', properties: { clientId: { type: 'string', minLength: 1, maxLength: 200 }, patient: address }, required: ['clientId', 'patient'], additionalProperties: false },
      response: { 200: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] } },
    },
  }, async (request) => {
    const { provider } = actingProvider(request);
    if (!options.smart) throw unavailable('SMART app launch');
    return options.smart.launch({ clientId: request.body.clientId, patient: request.body.patient.toLowerCase(), user: provider });
  });
};
