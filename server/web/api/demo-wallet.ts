/**
 * Embedded demo only: signs EIP-712 messages with the PUBLISHED dev key of the signed-in demo
 * identity, so demo patients can act without a browser wallet. It signs only for the caller's own
 * address, and only when that address is one of the demo cast; never registered in production.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { TypedData } from '../shared/src/api-types.ts';
import { DeskError } from './desks.ts';
import { typedData as typedDataSchema } from './schemas.ts';
import { principalOf, requirePrincipal, type VerifyWebToken } from './web-principal.ts';

export interface DemoKeyring {
  /** Signs with the dev key of `address`, or returns undefined when it is not a demo identity. */
  signTypedData(address: string, typedData: TypedData): Promise<string | undefined>;
}

export const demoWalletRoutes: FastifyPluginAsync<{ verifyToken: VerifyWebToken; keyring: DemoKeyring }> = async (app, options) => {
  app.addHook('onRequest', requirePrincipal(options.verifyToken));
  app.post<{ Body: { typedData: TypedData } }>('/sign-typed-data', {
    schema: {
      body: { type: 'object', properties: { typedData: typedDataSchema }, required: ['typedData'], additionalProperties: false },
      response: { 200: { type: 'object', properties: { signature: { type: 'string' } }, required: ['signature'] } },
    },
  }, async (request) => {
    const { subject } = principalOf(request);
    const signature = await options.keyring.signTypedData(subject, request.body.typedData);
    if (!signature) throw new DeskError(403, 'Only demo identities can sign with a demo key.', 'Use your own wallet to sign.');
    return { signature };
  });
};
