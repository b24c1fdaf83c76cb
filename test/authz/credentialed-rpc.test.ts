/**
 * A chain node behind an authenticating gateway: every JSON-RPC request the node sends, through
 * ethers or raw (the follower's eth_getLogs windows, the chain id check), carries the
 * credentials or headers of the configured RPC connection, and an error never shows them.
 */
import t from 'tap';
import { FetchRequest, JsonRpcProvider } from 'ethers';
import { Redis } from 'ioredis';
import { connectChain } from '../../contracts/connection.ts';
import { startRedisServer } from '../../server/embedded/redis-server.ts';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { authzKeys } from '../../server/authz/authz-keys.ts';
import { MedrecEventSource } from '../../server/authz/contract-events.ts';
import { syncOnce } from '../../server/authz/chain-follower.ts';
import { startRpcProxy } from '../support/rpc-proxy.ts';
import { startTestChain, terms } from './support/test-chain.ts';
import { authorizationOn, eventually } from './support/authz-fixtures.ts';

const credentials = { user: 'medrec', password: 's3cret/pw' };
const alice = demoAddress('alice');
const pharmacy = demoAddress('pharmacy');

t.test('the follower and the chain id check reach a node that demands Basic credentials', async (t) => {
  const [redisServer, chain] = await Promise.all([startRedisServer(), startTestChain()]);
  t.teardown(() => Promise.all([chain.close(), redisServer.stop()]));
  const gateway = await startRpcProxy(chain.url, { credentials });
  t.teardown(() => gateway.close());
  const url = new URL(gateway.url);
  url.username = credentials.user;
  url.password = encodeURIComponent(credentials.password);
  const credentialed = url.href;

  await t.test('the chain id check sends the URL’s credentials and never prints them', async (t) => {
    const { provider, chainId } = await connectChain({ rpcUrl: credentialed, chainId: 31337 });
    provider.destroy();
    t.equal(chainId, 31337n);
    const refused = await connectChain({ rpcUrl: gateway.url }).then(() => undefined, (e: Error) => e);
    t.match(refused?.message, /eth_chainId failed at http:\/\/127\.0\.0\.1:\d+: HTTP 401/, 'without credentials the gateway refuses it');
    const unreachable = await connectChain({ rpcUrl: `http://medrec:${credentials.password}@127.0.0.1:1` }).then(() => undefined, (e: Error) => e);
    t.notMatch(unreachable?.message, credentials.password, 'an unreachable node’s error does not show the password');
  });

  await t.test('the follower folds windows through a credentialed RPC URL', async (t) => {
    const block = await chain.send('alice', 'Consent', 'createGrant', alice, pharmacy, terms({ resourceTypes: ['MedicationRequest'] }));
    const refusedBefore = gateway.refused;
    const authz = await authorizationOn(t, chain, redisServer.url, 'credentialed-rpc', { chain: { rpcUrl: credentialed } });
    await eventually('the follower folded the grant’s block', () => (authz.freshness.state().cursor >= block ? true : undefined));
    const redis = new Redis(redisServer.url);
    t.teardown(() => redis.disconnect());
    t.equal(await redis.scard(authz.keys.grantsByGrantee(pharmacy.toLowerCase())), 1, 'the grant read through the gateway is in the index');
    t.equal(gateway.refused, refusedBefore, 'no request went without the credentials');
  });

  await t.test('a provider made from a FetchRequest with headers lends them to the raw windows', async (t) => {
    const request = new FetchRequest(gateway.url);
    request.setHeader('authorization', `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`);
    const provider = new JsonRpcProvider(request, 31337, { staticNetwork: true, batchStallTime: 0, cacheTimeout: -1 });
    const redis = new Redis(redisServer.url);
    t.teardown(() => (provider.destroy(), redis.disconnect()));
    const refusedBefore = gateway.refused;
    const head = await chain.provider.getBlockNumber();
    const run = await syncOnce({ provider, source: new MedrecEventSource(chain.contracts, chain.deployBlock), redis, keys: authzKeys('credentialed-rpc-request:') });
    t.equal(run.cursor, head, 'every window up to the head was read');
    t.ok(run.events > 0, 'and the grant was among its events');
    t.equal(gateway.refused, refusedBefore, 'no request went without the header');
  });
});
