/**
 * The provider console's link and end actions, sent at once for one provider (two tabs, a double
 * click): each reads the node's link table, sends a relationship commitment from it and writes
 * the table back, so the node runs them one after another. Every request then succeeds, and each
 * patient's on-chain commitment is the one of the rows the node finally holds.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Wallet } from 'ethers';
import { deriveLinkSalt, linkCommitment } from '../../contracts/link-commitment.ts';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { WEB_CLIENT_IDS } from '../../server/web/web-apps.ts';
import { startWebStack, type WebStack } from './support/web-stack.ts';

const hospital = demoAddress('hospital');
let stack: WebStack;
let token: string;

t.before(async () => {
  stack = await startWebStack('provider-links');
  // The console's own token for the hospital, as its SIWE sign-in would end with.
  const smart = stack.app.smartAuth;
  const grant = await smart.store.createGrant({ clientId: WEB_CLIENT_IDS.provider, subject: hospital, scope: 'openid fhirUser', kind: 'user', expiresAt: Math.floor(Date.now() / 1000) + 600 });
  ({ token } = await smart.tokens.issueAccessToken(grant, 600));
});
t.teardown(() => stack?.close());

async function post(path: string, body?: unknown): Promise<{ status: number; body: { summary?: string; error?: string } }> {
  const res = await fetch(`${stack.origin}/web/api/provider${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as { summary?: string; error?: string } };
}

const link = (localId: string, address: string) => post('/patients/link', { source: 'hospital', localId, address });
const newLocalId = () => `mgh-${randomBytes(4).toString('hex')}`;

/** The patient's on-chain relationship with the hospital, and the commitment of the rows the node holds. */
async function committed(patient: string): Promise<{ active: boolean; onChain: string; ofRows: string | undefined; rows: string[] }> {
  const rows = stack.links.linksOf(patient).filter((l) => l.sourceId === 'hospital');
  const relationship = await stack.chain.client.relationships.read('getRelationship', hospital, patient);
  return {
    active: relationship.active,
    onChain: relationship.commitment,
    ofRows: rows.length ? linkCommitment({ provider: hospital, patient, salt: deriveLinkSalt(demoWallet('hospital').privateKey, patient), links: rows }) : undefined,
    rows: rows.map((l) => l.localId).sort(),
  };
}

t.test('two patients linked at once, while a third relationship ends: all three happen', async (t) => {
  const [first, second, leaving] = [Wallet.createRandom().address.toLowerCase(), Wallet.createRandom().address.toLowerCase(), Wallet.createRandom().address.toLowerCase()];
  const [firstId, secondId, leavingId] = [newLocalId(), newLocalId(), newLocalId()];
  t.equal((await link(leavingId, leaving)).status, 200, 'a patient to let go of later is linked');

  const outcomes = await Promise.all([link(firstId, first), link(secondId, second), post(`/patients/${leaving}/end`)]);
  t.same(outcomes.map((o) => o.status), [200, 200, 200], `every request succeeded: ${JSON.stringify(outcomes.map((o) => o.body))}`);
  for (const [patient, localId] of [[first, firstId], [second, secondId]] as const) {
    const c = await committed(patient);
    t.ok(c.active, 'the relationship is on chain');
    t.same(c.rows, [localId], 'the node holds the link');
    t.equal(c.onChain, c.ofRows, 'and the chain holds the commitment of exactly that row');
  }
  const left = await committed(leaving);
  t.notOk(left.active, 'the ended relationship is ended on chain');
  t.same(left.rows, [], 'and its local id left the table');
});

t.test('two local ids linked to one patient at once: the commitment covers both', async (t) => {
  const patient = Wallet.createRandom().address.toLowerCase();
  const ids = [newLocalId(), newLocalId()];
  const outcomes = await Promise.all(ids.map((id) => link(id, patient)));
  t.same(outcomes.map((o) => o.status), [200, 200], `both requests succeeded: ${JSON.stringify(outcomes.map((o) => o.body))}`);
  t.match(outcomes.map((o) => o.body.summary).sort(), ['Link added; the on-chain commitment was updated.', 'Patient linked.'], 'one made the relationship, the other added to it');
  const c = await committed(patient);
  t.same(c.rows, [...ids].sort(), 'the node holds both links');
  t.equal(c.onChain, c.ofRows, 'the chain holds the commitment of both rows, not of one of them');
});

t.test('one local id sent for two patients at once: the first links, the second is refused', async (t) => {
  const [a, b] = [Wallet.createRandom().address.toLowerCase(), Wallet.createRandom().address.toLowerCase()];
  const localId = newLocalId();
  const outcomes = await Promise.all([link(localId, a), link(localId, b)]);
  t.same(outcomes.map((o) => o.status), [200, 409], `the second waits for the first and sees its link: ${JSON.stringify(outcomes.map((o) => o.body))}`);
  t.equal(stack.links.patientOf('hospital', localId), a, 'the local id is the first patient’s');
  t.notOk((await committed(b)).active, 'no relationship was made for the second');
});
