/**
 * Patients' notifications from the chain's events: a grant that enters its last week while the
 * patient has the app open is announced then, not only when they connect.
 */
import t from 'tap';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { startEmbeddedChain } from '../../server/embedded/chain.ts';
import { ChainNotifications } from '../../server/web/desks/chain-notifications.ts';
import { ParticipantNames } from '../../server/web/desks/participant-names.ts';
import { medrecChainOf } from '../../server/web/web-wiring.ts';
import type { NotificationView } from '../../server/web/shared/src/api-types.ts';

const DAY = 86_400;

t.test('a grant entering its last week during an open session is announced once', async (t) => {
  const chain = await startEmbeddedChain({ blockTime: 0 });
  t.teardown(() => chain.stop());
  const medrec = medrecChainOf(chain.client);
  const start = Math.floor(Date.now() / 1000);
  let now = start;
  const hub = new ChainNotifications({ chain: medrec, names: new ParticipantNames(medrec), fromBlock: chain.deployment.fromBlock, pollMs: 20, expiryCheckMs: 0, now: () => now });
  t.teardown(() => hub.close());

  const dave = demoAddress('dave');
  const wallet = demoWallet('dave').connect(chain.provider);
  await chain.client.createGrant(wallet, {
    patient: dave,
    grantee: demoAddress('clinician'),
    terms: { providers: [], resourceTypes: [], actions: 3, purpose: 0, notBefore: 0, expiresAt: start + 8 * DAY + 3600 },
  });

  const seen: NotificationView[] = [];
  let arrived: () => void = () => {};
  const expiring = new Promise<void>((resolve) => { arrived = resolve; });
  hub.subscribe(dave, (n) => {
    seen.push(n);
    if (n.kind === 'grant-expiring') arrived();
  });
  await hub.poll();
  t.equal(seen.filter((n) => n.kind === 'grant-expiring').length, 0, 'eight days ahead: nothing to say yet');

  now = start + 2 * DAY; // the session stays open two days
  await expiring;
  t.match(seen.find((n) => n.kind === 'grant-expiring')?.text ?? '', /access ends in 6 days/, 'announced while listening');
  await hub.poll();
  t.equal(seen.filter((n) => n.kind === 'grant-expiring').length, 1, 'and only once');
});
