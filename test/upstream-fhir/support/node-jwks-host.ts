/**
 * Serves a node's public Backend Services JWKS over real HTTP on loopback, with the same plugin
 * the node uses, so a test upstream's token endpoint fetches our keys the way Epic does.
 */
import Fastify from 'fastify';
import { NODE_JWKS_PATH, nodeJwksPlugin, type NodeSigningKey } from '../../../adapters/fhir/node-keys.ts';

export interface JwksHost {
  readonly jwksUrl: string;
  close(): Promise<void>;
}

export async function hostNodeJwks(keys: readonly NodeSigningKey[]): Promise<JwksHost> {
  const app = Fastify({ logger: false });
  await app.register(nodeJwksPlugin, { keys });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { jwksUrl: `http://127.0.0.1:${port}${NODE_JWKS_PATH}`, close: () => app.close() };
}
