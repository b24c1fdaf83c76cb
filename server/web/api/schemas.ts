/** JSON schemas of the BFF routes' bodies and answers (Fastify validates and serializes with them). */

export const address = { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' } as const;
export const addressList = { anyOf: [{ type: 'string', const: '*' }, { type: 'array', items: address, maxItems: 64 }] } as const;
export const resourceTypeList = {
  anyOf: [{ type: 'string', const: '*' }, { type: 'array', items: { type: 'string', pattern: '^[A-Z][A-Za-z]{0,63}$' }, minItems: 1, maxItems: 64 }],
} as const;
export const problem = {
  type: 'object',
  properties: { error: { type: 'string' }, next: { type: 'string' } },
  required: ['error'],
} as const;

export const participant = {
  type: 'object',
  properties: { address: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' } },
  required: ['address', 'name', 'role'],
} as const;

const stringsOrStar = { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } as const;

export const grantView = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['grant', 'delegation', 'study'] },
    grantee: participant,
    providers: stringsOrStar,
    resourceTypes: stringsOrStar,
    actions: { type: 'array', items: { type: 'string' } },
    purpose: { type: 'string' },
    notBefore: { type: 'number' },
    expiresAt: { type: 'number' },
    active: { type: 'boolean' },
  },
  required: ['id', 'kind', 'grantee', 'providers', 'resourceTypes', 'actions', 'purpose', 'notBefore', 'expiresAt', 'active'],
} as const;

export const providerView = {
  type: 'object',
  properties: { address: { type: 'string' }, name: { type: 'string' }, role: { type: 'string' }, fhirBase: { type: 'string' } },
  required: ['address', 'name', 'role'],
} as const;

export const relayOutcome = {
  type: 'object',
  properties: { txHash: { type: 'string' }, blockNumber: { type: 'number' }, summary: { type: 'string' } },
  required: ['txHash', 'blockNumber', 'summary'],
} as const;

export const typedData = {
  type: 'object',
  properties: {
    domain: { type: 'object', additionalProperties: true },
    types: { type: 'object', additionalProperties: true },
    primaryType: { type: 'string' },
    message: { type: 'object', additionalProperties: true },
  },
  required: ['domain', 'types', 'primaryType', 'message'],
} as const;
