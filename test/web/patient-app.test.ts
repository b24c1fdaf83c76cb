/**
 * The patient app in headless Chromium against the whole server (embedded chain, SMART, FHIR,
 * authorization): sign in with a demo key, grant a pharmacy, see its access in the log after it
 * queries, revoke it and see it refused, enroll in a study, approve a request, read my records.
 * Every main screen is screenshotted to test-artifacts/web/ and checked with axe-core.
 */
import t from 'tap';
import { SignJWT, importJWK } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { DEMO_PHARMACY_PRIVATE_JWK } from '../../smart-on-fhir/demo-clients.ts';
import { launchBrowser } from './support/browser.ts';
import { checkScreen, demoSignIn, injectWallet, sidewaysScrolling, signIn, tabTo } from './support/journeys.ts';
import { Wallet } from 'ethers';
import { startWebStack, type WebStack } from './support/web-stack.ts';

let stack: WebStack;
let browser: Browser;

t.before(async () => {
  stack = await startWebStack('patient', undefined, undefined, { publishWalletRpc: true });
  browser = await launchBrowser();
});
t.teardown(async () => {
  await browser?.close();
  await stack?.close();
});

/** The pharmacy's own system: SMART Backend Services (ES384 client assertion), then a search. */
async function pharmacySearch(patient: string): Promise<number> {
  const tokenUrl = `${stack.origin}/auth/token`;
  const key = await importJWK(DEMO_PHARMACY_PRIVATE_JWK, 'ES384');
  const assertion = await new SignJWT({})
    .setProtectedHeader({ alg: 'ES384', kid: DEMO_PHARMACY_PRIVATE_JWK.kid, typ: 'JWT' })
    .setIssuer('medrec-demo-pharmacy-backend').setSubject('medrec-demo-pharmacy-backend').setAudience(tokenUrl)
    .setJti(crypto.randomUUID()).setIssuedAt().setExpirationTime('4m').sign(key);
  const token = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials', scope: 'system/MedicationRequest.rs',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion,
    }),
  });
  const { access_token } = (await token.json()) as { access_token: string };
  const res = await fetch(`${stack.origin}/fhir/MedicationRequest?patient=${patient}`, { headers: { authorization: `Bearer ${access_token}`, accept: 'application/fhir+json' } });
  await res.arrayBuffer();
  return res.status;
}

async function until<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gave up waiting: ${what}`);
}

async function tab(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name }).click();
}

t.test('the sign-in screen offers a wallet and clearly labelled demo keys', async (t) => {
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await page.goto(`${stack.origin}/patient/`);
  await page.getByRole('heading', { name: 'Your records, your say' }).waitFor();
  t.ok(await page.getByRole('button', { name: 'Sign in with your wallet' }).isVisible());
  t.match(await page.locator('.demo-note').innerText(), /published development mnemonic/);
  t.equal(await checkScreen(page, stack.artifacts, 'patient-sign-in-phone'), '', 'no accessibility violations');
  await page.close();
});

t.test('carol grants the pharmacy, sees its read in her log, revokes it, and joins a study', async (t) => {
  const carol = demoAddress('carol');
  const context = await browser.newContext();
  const page = await context.newPage();
  await demoSignIn(page, `${stack.origin}/patient/`, 'Demo patient Carol', 'Sign in as Demo patient Carol (demo key)');

  await page.getByRole('heading', { name: 'My network' }).waitFor();
  await page.getByRole('img', { name: 'Picture of my network' }).waitFor();
  t.pass('the network is drawn');
  t.equal(await checkScreen(page, stack.artifacts, 'patient-network'), '', 'network screen: no accessibility violations');
  t.equal(await pharmacySearch(carol), 403, 'before any grant the pharmacy is refused');

  await tab(page, 'Share');
  await page.getByRole('radio', { name: /A pharmacy/ }).check();
  t.equal(await page.getByLabel('Pharmacy', { exact: true }).inputValue(), demoAddress('pharmacy'), 'the pharmacy is offered');
  await page.getByRole('button', { name: 'Sign and share' }).click();
  await page.getByRole('status').filter({ hasText: 'can now see' }).waitFor();
  t.equal(await checkScreen(page, stack.artifacts, 'patient-share'), '', 'share screen: no accessibility violations');

  // A clinician for Mercy's records only: the picture draws that grant from Mercy, not from me.
  await page.getByRole('radio', { name: /A clinician or organisation/ }).check();
  await page.getByLabel('Clinician or organisation', { exact: true }).selectOption({ label: 'Dr. Demo Clinician' });
  await page.getByLabel('Records from', { exact: true }).selectOption({ label: 'Mercy General Hospital only' });
  await page.getByRole('button', { name: 'Sign and share' }).click();
  await page.getByRole('status').filter({ hasText: 'Dr. Demo Clinician can now see' }).waitFor();
  await tab(page, 'My network');
  const picture = page.getByRole('img', { name: 'Picture of my network' });
  await page.getByRole('button', { name: 'Revoke: Dr. Demo Clinician' }).waitFor();
  const drawn = await picture.evaluate((svg) => ({
    text: Array.from(svg.querySelectorAll('text')).map((x) => x.textContent).join(' '),
    fromMercy: Array.from(svg.querySelectorAll('path')).filter((p) => p.getAttribute('d')?.startsWith('M 240 ')).length,
    fromMe: Array.from(svg.querySelectorAll('path')).filter((p) => p.getAttribute('d')?.startsWith('M 380 ')).length,
  }));
  t.match(drawn.text, 'Corner Pharmacy prescriptions and medication records from every provider for treatment, until ', 'the pharmacy’s card says what, where, for what and until when');
  t.match(drawn.text, 'Dr. Demo Clinician all record types at Mercy General Hospital for treatment, until ', 'the clinician’s card names the one provider');
  t.same([drawn.fromMercy, drawn.fromMe], [1, 1], 'the Mercy-only grant is drawn from Mercy, the every-provider grant from me');
  t.equal(await checkScreen(page, stack.artifacts, 'patient-network-grants'), '', 'network with grants: no accessibility violations');

  await until('the pharmacy is allowed after the grant block', async () => ((await pharmacySearch(carol)) === 200 ? true : undefined));
  await stack.authz.audit.flush();

  await tab(page, 'Who read what');
  await page.getByLabel('Who', { exact: true }).selectOption({ label: 'Corner Pharmacy' });
  const row = await until('the pharmacy read shows in the access log', async () => {
    await page.getByRole('button', { name: 'Refresh the access log' }).click();
    const allowed = page.getByRole('row').filter({ hasText: 'Corner Pharmacy' }).filter({ hasText: 'allowed' });
    return (await allowed.count()) > 0 ? allowed.first() : undefined;
  });
  t.match(await row.innerText(), /searched prescriptions/, 'the log says what was read, in words');
  t.equal(await checkScreen(page, stack.artifacts, 'patient-access-log'), '', 'access log: no accessibility violations');
  await page.setViewportSize({ width: 390, height: 844 });
  t.equal(await sidewaysScrolling(page), '', 'on a phone the log needs no sideways scrolling');
  const firstCard = page.locator('table.stacked tbody tr').first();
  const outcomeAt = await firstCard.locator('td', { hasText: /^(allowed|refused)$/ }).boundingBox();
  const whenAt = await firstCard.locator('td').first().boundingBox();
  t.ok(outcomeAt && whenAt && outcomeAt.y < whenAt.y, 'each entry starts with its outcome');
  t.equal(await checkScreen(page, stack.artifacts, 'patient-access-log-phone'), '', 'phone access log: no accessibility violations');
  await page.setViewportSize({ width: 1280, height: 720 });

  await tab(page, 'My network');
  await page.getByRole('button', { name: 'Revoke: Corner Pharmacy' }).click();
  await page.getByRole('status').filter({ hasText: 'can no longer see' }).waitFor();
  t.equal(await page.getByRole('button', { name: 'Revoke: Corner Pharmacy' }).count(), 0, 'when the outcome is announced the list already shows it');
  await until('the pharmacy is refused after the revoking block', async () => ((await pharmacySearch(carol)) === 403 ? true : undefined));
  t.pass('revocation took effect on the pharmacy');
  await stack.authz.audit.flush();
  await tab(page, 'Who read what');
  await page.getByLabel('Outcome', { exact: true }).selectOption('refused');
  await until('the refused query shows in the access log', async () => {
    await page.getByRole('button', { name: 'Refresh the access log' }).click();
    const refused = page.getByRole('row').filter({ hasText: 'Corner Pharmacy' }).filter({ hasText: 'refused' });
    return (await refused.count()) > 0 ? true : undefined;
  });
  t.pass('the log also shows what was refused after the revocation');

  await tab(page, 'Share');
  await page.getByRole('radio', { name: /A research study/ }).check();
  await page.getByRole('button', { name: /Join study Cardiovascular/ }).click();
  await page.getByRole('status').filter({ hasText: 'You joined' }).waitFor();
  await tab(page, 'My network');
  await page.getByRole('button', { name: 'Leave study: University Cardiology Study' }).waitFor();
  t.pass('the study shows as a grantee');

  // The hospital announces new results for Carol (type names only on chain): it arrives live.
  const hospital = new Wallet(demoWallet('hospital').privateKey, stack.chain.provider);
  await tab(page, 'Notifications');
  await page.getByText('Live: new notifications appear here as they happen.').waitFor();
  await stack.chain.client.announceRecordsChanged(hospital, carol, ['Observation']);
  await page.getByText('New or updated results and measurements at Mercy General Hospital.').waitFor();
  t.pass('a record change at a provider is notified without reloading');
  await page.getByText(/invited to the study/).first().waitFor();
  await page.getByText(/can no longer see your records/).first().waitFor();
  t.equal(await checkScreen(page, stack.artifacts, 'patient-notifications'), '', 'notifications: no accessibility violations');
  t.equal(await page.getByRole('button', { name: /Go to requests/ }).count(), 0, 'no request is waiting, so no button sends her to requests');
  // After a reload the stream replays what she has seen; only what is new counts on the badge.
  await tab(page, 'My network');
  await page.reload();
  await page.getByRole('heading', { name: 'Who can see my records' }).waitFor();
  await stack.chain.client.announceRecordsChanged(hospital, carol, ['Condition']);
  const badge = page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: /Notifications/ }).locator('.badge');
  await badge.waitFor();
  t.equal(await badge.innerText(), '1', 'history replayed after a reload is not counted as new again');

  await tab(page, 'My records');
  await page.getByRole('heading', { name: 'Mercy General Hospital', level: 3 }).waitFor();
  await page.getByRole('region', { name: "St. Luke's Medical Center (HL7v2 feed)" }).getByText('Amlodipine 5 MG Oral Tablet').waitFor();
  t.pass('a prescription naming its drug by reference shows the drug');
  t.equal(await checkScreen(page, stack.artifacts, 'patient-records'), '', 'records: no accessibility violations');

  // Her own reads (My records just now) are in the log, but only when she asks for them.
  await stack.authz.audit.flush();
  await tab(page, 'Who read what');
  await page.getByLabel('Who', { exact: true }).selectOption({ label: 'Anyone' });
  await page.getByLabel('Outcome', { exact: true }).selectOption({ label: 'Allowed or refused' });
  const hidden = page.getByText(/of your own reads are not shown/);
  await until('her reads reach the log', async () => {
    await page.getByRole('button', { name: 'Refresh the access log' }).click();
    return (await hidden.count()) > 0 ? true : undefined;
  });
  const mine = page.locator('td[data-label="Who"]', { hasText: /^You\b/ });
  t.equal(await mine.count(), 0, 'her own reads are hidden by default');
  t.ok(await page.getByRole('row').filter({ hasText: 'Corner Pharmacy' }).count() > 0, 'the others’ reads are not');
  await page.getByLabel('Include my own reads').check();
  await mine.first().waitFor();
  t.pass('and shown when she ticks the box');
  t.match(await page.getByRole('row').filter({ hasText: 'Corner Pharmacy' }).filter({ hasText: 'allowed' }).first().innerText(), /Mercy General Hospital/, 'sources are named by their provider, not their adapter id');
  await context.close();
});

t.test('bob, on a phone and with the keyboard only, approves a request and appoints a proxy', async (t) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await demoSignIn(page, `${stack.origin}/patient/`, 'Demo patient Bob', 'Sign in as Demo patient Bob (demo key)');
  await page.getByRole('heading', { name: 'Who can see my records' }).waitFor();
  t.equal(await sidewaysScrolling(page), '', 'the network screen fits a phone without sideways scrolling');
  t.equal(await checkScreen(page, stack.artifacts, 'patient-network-phone'), '', 'phone network screen: no accessibility violations');

  await tabTo(page, 'Requests');
  await page.keyboard.press('Enter');
  await tabTo(page, 'Approve request from Dr. Demo Clinician');
  await page.keyboard.press('Enter');
  await page.getByRole('status').filter({ hasText: 'Approved' }).waitFor();
  t.equal(await page.getByRole('button', { name: 'Approve request from Dr. Demo Clinician' }).count(), 0, 'the answered request has left the list by then');
  t.equal(await sidewaysScrolling(page), '', 'the requests screen fits a phone');
  t.equal(await checkScreen(page, stack.artifacts, 'patient-requests'), '', 'requests: no accessibility violations');
  await tab(page, 'My network');
  await page.getByRole('button', { name: 'Revoke: Dr. Demo Clinician' }).waitFor();
  t.pass('the approved request became a grant');

  await tab(page, 'Share');
  await page.getByRole('radio', { name: /A healthcare proxy/ }).check();
  await page.getByLabel('Proxy', { exact: true }).selectOption({ label: 'Healthcare proxy (demo)' });
  await page.getByRole('button', { name: 'Sign and share' }).click();
  await page.getByRole('status').filter({ hasText: 'is now your healthcare proxy' }).waitFor();
  t.ok(await stack.chain.client.consent.read('isProxy', demoAddress('bob'), demoAddress('proxy')), 'the delegation is on chain');
  await tab(page, 'My network');
  await page.getByRole('button', { name: 'Revoke: Healthcare proxy (demo)' }).waitFor();
  t.pass('the proxy shows in my network');

  await tab(page, 'My records');
  const pharmacy = page.getByRole('region', { name: 'Corner Pharmacy dispensing records' });
  await pharmacy.getByText('Ibuprofen 100 MG Oral Tablet').waitFor();
  t.pass('a prescription pointing at a Medication shows the drug the search included');
  t.equal(await sidewaysScrolling(page), '', 'my records fit a phone');
  await context.close();
});

t.test('dave declines a request; the patient API refuses what it must, and says what to do next', async (t) => {
  const api = (path: string, init: { token?: string; body?: unknown } = {}) => fetch(`${stack.origin}/web/api/patient${path}`, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const unsigned = await api('/network');
  t.equal(unsigned.status, 401, 'no token: 401');
  t.match(await unsigned.json(), { next: /Sign in/ });
  t.equal((await api('/network', { token: 'not-a-token' })).status, 401, 'a forged token: 401');

  // The study's researcher asks Dave for his observations; Dave says no.
  const researcher = new Wallet(demoWallet('researcher').privateKey, stack.chain.provider);
  await stack.chain.client.requestAccess(researcher, demoAddress('dave'), { providers: [], resourceTypes: ['Observation'], actions: 3, purpose: 3, notBefore: 0, expiresAt: 0 });
  const context = await browser.newContext();
  const page = await context.newPage();
  await demoSignIn(page, `${stack.origin}/patient/`, 'Demo patient Dave', 'Sign in as Demo patient Dave (demo key)');
  await tab(page, 'Requests');
  await page.getByRole('button', { name: 'Decline request from University Cardiology Study' }).click();
  await page.getByRole('status').filter({ hasText: 'Declined' }).waitFor();
  t.equal((await stack.chain.client.consent.read('grantIdsByPatient', demoAddress('dave'))).length, 0, 'declining grants nothing');
  const token = await page.evaluate(() => (JSON.parse(sessionStorage.getItem('medrec.patient.session') ?? '{}') as { accessToken: string }).accessToken);
  await context.close();

  const bad = await api('/actions/prepare', { token, body: { action: 'grant', grant: { grantee: 'nobody', providers: '*', resourceTypes: '*', purpose: 'treatment', expiresAt: 0 } } });
  t.equal(bad.status, 400, 'a malformed grant: 400');
  t.match(await bad.json(), { error: /grantee/, next: /Check what you entered/ });

  const past = await api('/actions/prepare', { token, body: { action: 'grant', grant: { grantee: demoAddress('clinician'), providers: '*', resourceTypes: '*', purpose: 'treatment', expiresAt: 1000 } } });
  t.equal(past.status, 400, 'an end date in the past: 400');
  t.match(await past.json(), { next: /future/ });

  // Dave's token cannot relay a message Alice's key signed for herself.
  const prepared = await (await api('/actions/prepare', { token, body: { action: 'revoke', id: '1' } })).json() as { typedData: { domain: Record<string, unknown>; types: Record<string, Array<{ name: string; type: string }>>; message: Record<string, unknown> } };
  const forged = { ...prepared.typedData, message: { ...prepared.typedData.message, actor: demoWallet('alice').address } };
  const signature = await demoWallet('alice').signTypedData(forged.domain, forged.types, forged.message);
  const relay = await api('/actions/relay', { token, body: { typedData: forged, signature } });
  t.equal(relay.status, 403, 'someone else’s signed message: 403');
  t.match(await relay.json(), { error: /not signed by you/ });
});

t.test('someone with a browser wallet on another network and no ether signs in, shares with a clinician, and is warned it ends soon', async (t) => {
  const wallet = Wallet.createRandom();
  const context = await browser.newContext();
  const testWallet = await injectWallet(context, wallet, { startChainId: 1, knownChainIds: [1, stack.chain.chainId] });
  const page = await context.newPage();
  await signIn(page, `${stack.origin}/patient/`, 'Sign in with your wallet', 'Sign in with your wallet');
  await page.getByRole('heading', { name: 'My network' }).waitFor();
  t.notOk(await page.locator('header .pill').count(), 'no demo-key label for a real wallet');

  await tab(page, 'Share');
  await page.getByLabel('Clinician or organisation', { exact: true }).selectOption({ label: 'Dr. Demo Clinician' });
  const soon = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
  await page.getByLabel('Until', { exact: true }).fill(soon);
  await page.getByRole('button', { name: 'Sign and share' }).click();
  await page.getByRole('status').filter({ hasText: 'can now see' }).waitFor();
  const grants = await stack.chain.client.consent.read('grantIdsByPatient', wallet.address);
  t.equal(grants.length, 1, 'the grant signed in the wallet is on chain');
  t.equal(await stack.chain.provider.getBalance(wallet.address), 0n, 'the patient paid nothing');
  t.ok(testWallet.calls.includes('wallet_switchEthereumChain'), 'the app asked the wallet to switch networks');
  t.equal(testWallet.chainId(), stack.chain.chainId, 'and it signed on the MedRec chain');

  // While one revocation waits for the wallet, only its own button says it is working.
  await page.getByRole('radio', { name: /A pharmacy/ }).check();
  await page.getByRole('button', { name: 'Sign and share' }).click();
  await page.getByRole('status').filter({ hasText: 'Corner Pharmacy can now see' }).waitFor();
  await tab(page, 'My network');
  const release = testWallet.holdSignatures();
  await page.getByRole('button', { name: 'Revoke: Corner Pharmacy' }).click();
  await page.getByRole('status').filter({ hasText: 'Please confirm in your wallet' }).waitFor();
  t.equal(await page.getByRole('button', { name: 'Revoke: Corner Pharmacy' }).innerText(), 'Working…', 'the revocation in progress says so');
  t.equal(await page.getByRole('button', { name: 'Revoke: Dr. Demo Clinician' }).innerText(), 'Revoke', 'the other grant’s button does not');
  release();
  await page.getByRole('status').filter({ hasText: 'Corner Pharmacy can no longer see' }).waitFor();

  await tab(page, 'Notifications');
  await page.getByText(/Dr\. Demo Clinician's access ends in \d days/).waitFor();
  t.pass('the grant about to expire is announced live');

  // The same sign-in in a browser without the wallet: it may look, and is told why it cannot change anything.
  const session = await page.evaluate(() => sessionStorage.getItem('medrec.patient.session') ?? '');
  await context.close();
  const bare = await browser.newContext();
  const p = await bare.newPage();
  await p.goto(`${stack.origin}/patient/`);
  await p.evaluate((s) => sessionStorage.setItem('medrec.patient.session', s), session);
  await p.reload();
  const revoke = p.getByRole('button', { name: 'Revoke: Dr. Demo Clinician' });
  await revoke.waitFor();
  t.ok(await revoke.isDisabled(), 'revoking needs a signature, so the button is off');
  const why = await revoke.evaluate((b) => document.getElementById(b.getAttribute('aria-describedby') ?? '')?.textContent ?? '');
  t.match(why, /No Ethereum wallet was found.*Install a wallet extension/s, 'and the button is described by why, and what to do');
  t.equal(await checkScreen(p, stack.artifacts, 'patient-network-no-wallet'), '', 'no-wallet network screen: no accessibility violations');
  await tab(p, 'Requests');
  t.ok(await p.getByText('No Ethereum wallet was found').isVisible(), 'the requests screen says so too');
  await bare.close();
});

t.test('a wallet that does not know the MedRec chain is asked to add it; one whose owner refuses the switch is told what to do', async (t) => {
  const share = async (page: Page) => {
    await tab(page, 'Share');
    await page.getByLabel('Clinician or organisation', { exact: true }).selectOption({ label: 'Dr. Demo Clinician' });
    await page.getByRole('button', { name: 'Sign and share' }).click();
    return page.getByRole('status').filter({ hasText: /can now see|did not work/ });
  };

  const newcomer = Wallet.createRandom();
  const fresh = await browser.newContext();
  const freshWallet = await injectWallet(fresh, newcomer, { startChainId: 1, knownChainIds: [1] });
  const page = await fresh.newPage();
  await signIn(page, `${stack.origin}/patient/`, 'Sign in with your wallet', 'Sign in with your wallet');
  const outcome = await share(page);
  await outcome.waitFor();
  t.match(await outcome.innerText(), /can now see/, 'the grant went through');
  t.same(freshWallet.added.map((c) => ({ chainId: Number(c.chainId), rpcUrls: c.rpcUrls })), [{ chainId: stack.chain.chainId, rpcUrls: [stack.chain.rpcUrl] }], 'the wallet was asked to add the chain, with the published RPC URL');
  t.equal((await stack.chain.client.consent.read('grantIdsByPatient', newcomer.address)).length, 1, 'the grant is on chain');
  await fresh.close();

  const reluctant = Wallet.createRandom();
  const context = await browser.newContext();
  await injectWallet(context, reluctant, { startChainId: 1, knownChainIds: [1, stack.chain.chainId], refuseSwitch: true });
  const p = await context.newPage();
  await signIn(p, `${stack.origin}/patient/`, 'Sign in with your wallet', 'Sign in with your wallet');
  const refused = await share(p);
  await refused.waitFor();
  t.match(await refused.innerText(), /Your wallet stayed on another network.*chain id \d+.*accept the network switch/s, 'the failure says why and what to do');
  t.equal((await stack.chain.client.consent.read('grantIdsByPatient', reluctant.address)).length, 0, 'nothing was signed or sent');
  await context.close();
});
