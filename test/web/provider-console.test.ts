/**
 * The provider console in headless Chromium against the whole server: providers sign in with
 * their demo keys; one proposes a new provider, others vote it in (strict majority of five);
 * a proposal is rescinded; a patient is linked (salted commitment on chain) and the relationship
 * ended; sources report their health; the demo SMART app the server serves is EHR-launched for a
 * patient and opens with that patient in context and their records.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Wallet } from 'ethers';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { linkCommitment, deriveLinkSalt } from '../../contracts/link-commitment.ts';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { HL7_DEMO_SOURCE_ID } from '../../adapters/hl7v2/demo-feed-source.ts';
import { demoPharmacyToken } from '../../server/embedded/demo-pharmacy-token.ts';
import { launchBrowser } from './support/browser.ts';
import { checkScreen, demoSignIn, sidewaysScrolling } from './support/journeys.ts';
import { startWebStack, type WebStack } from './support/web-stack.ts';

const DEMO_DATA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'server', 'embedded', 'demo-data');
let stack: WebStack;
let browser: Browser;

t.before(async () => {
  // Mercy's slow archive (bob's older records) answers after the 5 s source deadline.
  // An app registered for EHR launch that runs on another server (the demo's own run here).
  const outsideApp = { clientId: 'outside-app', name: 'Outside charting app', type: 'public' as const, redirectUris: ['https://apps.example/callback'], launchUrl: 'https://apps.example/launch' };
  stack = await startWebStack('provider', () => [outsideApp], [
    { id: 'mgh-archive', kind: 'embedded', provider: demoAddress('hospital'), name: 'Mercy General Hospital archive', options: { files: [join(DEMO_DATA, 'hospital.json')], latencyMs: 60_000 } },
  ], { extraLinks: [{ patient: demoAddress('bob'), sourceId: 'mgh-archive', localId: '356a0ab8-5592-4ec5-8c3a-9a4d0857b793' }] });
  browser = await launchBrowser();
});
t.teardown(async () => {
  await browser?.close();
  await stack?.close();
});

async function signedInAs(name: string): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await demoSignIn(page, `${stack.origin}/provider/`, name, `Sign in as ${name} (demo key)`);
  return { context, page };
}

async function tab(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name }).click();
}

t.test('the sign-in screen and the SMART sign-in page are readable and accessible', async (t) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${stack.origin}/provider/`);
  await page.getByRole('heading', { name: 'Provider console', exact: true }).waitFor();
  t.match(await page.locator('.demo-note').innerText(), /published development mnemonic/, 'demo keys are labelled as such');
  t.equal(await checkScreen(page, stack.artifacts, 'provider-sign-in'), '', 'provider sign-in: no accessibility violations');
  await page.getByRole('button', { name: 'Sign in with your wallet' }).click();
  await page.waitForURL((url) => url.pathname.startsWith('/auth/'));
  await page.getByRole('button', { name: 'Sign in with your wallet' }).waitFor();
  t.equal(await checkScreen(page, stack.artifacts, 'smart-login'), '', 'Sign-In with Ethereum page: no accessibility violations');
  await page.getByRole('button', { name: 'Sign in with your wallet' }).click();
  t.match(await page.getByRole('status').innerText(), /No Ethereum wallet found.*Install a wallet extension/s, 'without a wallet the page says what to do');
  await context.close();
});

t.test('on a phone every console screen fits without sideways scrolling', async (t) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  await demoSignIn(page, `${stack.origin}/provider/`, 'Riverside Family Clinic', 'Sign in as Riverside Family Clinic (demo key)');
  // Each screen once its data is in: the longest thing it shows.
  const screens: Array<[tab: string, loaded: string, name: string]> = [
    ['Network', 'Hillside OpenMRS Clinic', 'provider-network-phone'],
    ['Patients', 'Demo patient Alice', 'provider-patients-phone'],
    ['Sources', 'healthy', 'provider-sources-phone'],
    ['SMART apps', 'Corner Pharmacy system (SMART Backend Services)', 'provider-smart-phone'],
  ];
  for (const [name, loaded, shot] of screens) {
    await tab(page, name);
    await page.getByText(loaded).first().waitFor();
    t.equal(await sidewaysScrolling(page), '', `${name} fits a phone`);
    t.equal(await checkScreen(page, stack.artifacts, shot), '', `${name} on a phone: no accessibility violations`);
  }
  await context.close();
});

t.test('providers propose, vote in and rescind through the console', async (t) => {
  const candidate = Wallet.createRandom().address;
  const hospital = await signedInAs('Mercy General Hospital');
  const page = hospital.page;
  await page.getByRole('heading', { name: 'Providers in the network' }).waitFor();
  t.equal(await page.getByRole('region', { name: 'Providers in the network' }).getByRole('listitem').count(), 5, 'four founders and one voted in');
  t.equal(await checkScreen(page, stack.artifacts, 'provider-network'), '', 'network screen: no accessibility violations');

  await page.getByLabel('Organisation name (public)').fill('Valley Community Hospital');
  await page.getByLabel('Its provider address').fill(candidate);
  await page.getByLabel('Its FHIR base URL').fill('https://valley.example/fhir');
  await page.getByRole('button', { name: 'Propose', exact: true }).click();
  await page.getByRole('status').filter({ hasText: 'Proposed Valley Community Hospital' }).waitFor();
  t.ok(await page.getByText('1 of 3 votes needed').isVisible(), 'the open motion is listed when the outcome is announced');

  // Both voters in one browser: signing out ends the sign-in session, so the second one is asked who they are.
  const voters = await browser.newContext();
  const v = await voters.newPage();
  for (const voter of ['Riverside Family Clinic', 'Corner Pharmacy dispensing records']) {
    await demoSignIn(v, `${stack.origin}/provider/`, voter, `Sign in as ${voter} (demo key)`);
    await v.getByRole('button', { name: 'Vote yes: admit Valley Community Hospital' }).click();
    const outcome = v.getByRole('status').filter({ hasText: /Vote counted|did not work/ });
    await outcome.waitFor();
    t.match(await outcome.innerText(), /Vote counted/, `${voter} voted`);
    await v.getByRole('button', { name: 'Sign out' }).click();
    await v.getByRole('heading', { name: 'Provider console', exact: true }).waitFor();
  }
  await voters.close();
  t.ok(await stack.chain.client.registry.read('isProvider', candidate), 'the majority admitted the candidate on chain');
  await page.reload();
  await page.getByRole('region', { name: 'Providers in the network' }).getByText('Valley Community Hospital').waitFor();

  const second = Wallet.createRandom().address;
  await page.getByLabel('Organisation name (public)').fill('Lakeside Clinic');
  await page.getByLabel('Its provider address').fill(second);
  await page.getByLabel('Its FHIR base URL').fill('https://lakeside.example/fhir');
  await page.getByRole('button', { name: 'Propose', exact: true }).click();
  await page.getByRole('button', { name: 'Rescind proposal for Lakeside Clinic' }).click();
  await page.getByRole('status').filter({ hasText: 'Proposal rescinded' }).waitFor();
  t.notOk(await stack.chain.client.registry.read('isProvider', second), 'a rescinded proposal admits nobody');

  await page.getByRole('button', { name: 'Propose removal of Hillside OpenMRS Clinic' }).click();
  await page.getByRole('group', { name: 'Confirm the removal of Hillside OpenMRS Clinic' }).getByRole('button', { name: 'Cancel' }).click();
  t.equal(await page.getByRole('region', { name: 'Open proposals' }).getByText('Remove Hillside OpenMRS Clinic').count(), 0, 'cancelling the confirmation proposes nothing');
  await page.getByRole('button', { name: 'Propose removal of Hillside OpenMRS Clinic' }).click();
  await page.getByRole('button', { name: 'Yes, propose removal of Hillside OpenMRS Clinic' }).click();
  await page.getByRole('region', { name: 'Providers in the network' }).getByRole('status').filter({ hasText: 'Removal proposed' }).waitFor();
  t.pass('the outcome shows under the provider list where it was asked');
  await page.getByRole('region', { name: 'Open proposals' }).getByText('Remove Hillside OpenMRS Clinic').waitFor();
  t.pass('a removal motion is open for the others to vote on');
  await hospital.context.close();
});

t.test('a provider links a patient once the chain has the commitment, refuses a wrong link, and ending the relationship unlinks it', async (t) => {
  const { context, page } = await signedInAs('Mercy General Hospital');
  const dave = demoAddress('dave');
  const carol = demoAddress('carol');
  const hospital = demoAddress('hospital');
  await tab(page, 'Patients');
  await page.getByRole('heading', { name: 'Linked patients' }).waitFor();
  await page.getByText('Demo patient Alice').waitFor();
  t.match(await page.getByRole('region', { name: 'Linked patients' }).innerText(), /Corner Pharmacy: prescriptions and medication records/, 'grants that involve our records are shown');

  t.equal(await page.getByLabel('Source', { exact: true }).inputValue(), 'hospital', 'the first of our sources is chosen, not a blank');
  const link = async (localId: string, address: string, outcome: string | RegExp) => {
    await page.getByLabel('Local patient id').fill(localId);
    await page.getByLabel("Patient's address").fill(address);
    await page.getByRole('button', { name: 'Link patient' }).click();
    await page.getByRole('region', { name: 'Link a patient' }).getByRole('status').filter({ hasText: outcome }).waitFor();
  };
  await link('c0a7e11e-0000-4000-8000-00000000ca01', dave, 'already linked to another address');
  t.match(await page.getByRole('region', { name: 'Link a patient' }).innerText(), /Check the local id/, 'the failure says what to do next');

  const localId = `mgh-${randomBytes(3).toString('hex')}`;
  await link(localId, hospital, 'cannot be linked as a patient');
  t.pass('the chain refuses our own address as a patient, and says why');
  await link(localId, dave, 'Patient linked');
  t.pass('the refused transaction left no link behind: the same local id links to dave');
  t.equal(await checkScreen(page, stack.artifacts, 'provider-patients'), '', 'patients screen: no accessibility violations');
  const relationship = await stack.chain.client.relationships.read('getRelationship', hospital, dave);
  t.ok(relationship.active, 'the relationship is on chain');
  t.equal(relationship.commitment, linkCommitment({ provider: hospital, patient: dave, salt: deriveLinkSalt(demoWallet('hospital').privateKey, dave), links: [{ sourceId: 'hospital', localId }] }), 'only the salted commitment of the link went on chain');

  await page.getByRole('button', { name: 'End relationship with Demo patient Dave' }).click();
  await page.getByRole('status').filter({ hasText: 'Relationship ended' }).waitFor();
  t.notOk((await stack.chain.client.relationships.read('getRelationship', hospital, dave)).active, 'the relationship ended on chain');

  // The local id was dave's only through the ended relationship: it is free for the right patient.
  await link(localId, carol, 'the on-chain commitment was updated');
  const carols = await stack.chain.client.relationships.read('getRelationship', hospital, carol);
  t.equal(carols.commitment, linkCommitment({ provider: hospital, patient: carol, salt: deriveLinkSalt(demoWallet('hospital').privateKey, carol), links: [{ sourceId: 'hospital', localId: 'c0a7e11e-0000-4000-8000-00000000ca01' }, { sourceId: 'hospital', localId }] }), 'carol’s commitment covers both her local ids');
  t.same(JSON.parse(readFileSync(join(stack.dataDir, 'console-links.json'), 'utf8')), { added: [{ patient: carol, sourceId: 'hospital', localId }], removed: [] }, 'what the console changed is kept in the data dir for the next start');
  await context.close();
});

t.test('sources show their health, the calls that failed, and a feed its dead letters and queue', async (t) => {
  // The pharmacy asks for bob's prescriptions: the archive misses the deadline, the others answer.
  const token = await demoPharmacyToken(stack.origin);
  const search = await fetch(`${stack.origin}/fhir/MedicationRequest?patient=${demoAddress('bob')}`, { headers: { authorization: `Bearer ${token}` } });
  t.equal(search.status, 200);
  t.match(JSON.stringify(await search.json()), /archive did not answer within/, 'the searchset says the archive is missing');
  const hospital = await signedInAs('Mercy General Hospital');
  await tab(hospital.page, 'Sources');
  const source = (id: string) => hospital.page.locator('tbody tr', { has: hospital.page.locator('td.first strong', { hasText: new RegExp(`^${id}$`) }) });
  await source('mgh-archive').waitFor();
  t.match(await source('mgh-archive').innerText(), /0 errors, 1 timed out\s+of 1 since start/, 'the missed deadline is counted');
  t.match(await source('hospital').innerText(), /none\s+of \d+ since start/, 'a source that answered shows no failures');
  t.equal(await checkScreen(hospital.page, stack.artifacts, 'provider-sources'), '', 'sources screen: no accessibility violations');
  await hospital.context.close();

  const clinic = await signedInAs('Riverside Family Clinic');
  await tab(clinic.page, 'Sources');
  const row = clinic.page.getByRole('row').filter({ hasText: 'clinic' });
  await row.getByText('healthy').waitFor();
  t.match(await row.innerText(), /not reported/, 'an embedded source does not pretend to count dead letters');
  await clinic.context.close();

  const feed = await signedInAs("St. Luke's Medical Center (HL7v2 feed)");
  await tab(feed.page, 'Sources');
  const hl7 = feed.page.getByRole('row').filter({ hasText: HL7_DEMO_SOURCE_ID });
  await hl7.getByText(/awaiting conversion/).waitFor();
  const cells = await hl7.getByRole('cell').allInnerTexts();
  t.match(cells[4] ?? '', /^\d+$/, 'dead letters are counted');
  t.match(cells[5] ?? '', /^\d+ waiting$/, 'the inbox queue depth is shown, and no job states it does not have');
  t.equal(await checkScreen(feed.page, stack.artifacts, 'provider-sources-feed'), '', 'a feed’s sources screen: no accessibility violations');
  await feed.context.close();
});

t.test('the console EHR-launches the demo SMART app, which opens with the patient in context and their records', async (t) => {
  const { context, page } = await signedInAs('Mercy General Hospital');
  await tab(page, 'SMART apps');
  const appChoice = page.getByLabel('App', { exact: true });
  const patientChoice = page.getByLabel('Patient', { exact: true });
  await appChoice.locator('option').first().waitFor({ state: 'attached' });
  await patientChoice.locator('option').first().waitFor({ state: 'attached' });
  t.equal(await appChoice.inputValue(), 'medrec-demo-patient-app', 'the app this server serves is chosen by default, not a blank');
  t.match(await patientChoice.inputValue(), /^0x[0-9a-f]{40}$/, 'and a patient');
  t.match(await appChoice.innerText(), /Outside charting app \(runs at https:\/\/apps\.example\)/, 'an app running elsewhere says where');
  t.notMatch(await appChoice.innerText(), /clinician app/, 'the demo clinician app, which nothing runs, is not offered for launch');
  await patientChoice.selectOption({ label: 'Demo patient Alice' });
  t.equal(await checkScreen(page, stack.artifacts, 'provider-smart'), '', 'SMART screen: no accessibility violations');

  const launches: string[] = [];
  context.on('request', (r) => { if (new URL(r.url()).pathname === '/demo-app/launch') launches.push(r.url()); });
  const [appTab] = await Promise.all([context.waitForEvent('page'), page.getByRole('button', { name: 'Launch app' }).click()]);
  await page.getByRole('status').filter({ hasText: 'opened in a new tab with Demo patient Alice in context' }).waitFor();
  // The app's side: authorize with the launch id (PKCE), the provider allows it, code for token.
  const allow = appTab.getByRole('button', { name: 'Allow', exact: true });
  const chart = appTab.getByRole('heading', { name: 'Patient in context' });
  if ((await Promise.race([allow.waitFor().then(() => 'consent'), chart.waitFor().then(() => 'chart')])) === 'consent') {
    t.equal(await checkScreen(appTab, stack.artifacts, 'smart-consent'), '', 'consent page: no accessibility violations');
    await allow.click();
  }
  await chart.waitFor();
  const launched = new URL(launches[0] ?? 'http://x');
  t.equal(launched.searchParams.get('iss'), `${stack.origin}/fhir`, 'the app was given the FHIR base');
  t.ok(launched.searchParams.get('launch'), 'and a launch id');
  const patient = appTab.getByRole('region', { name: 'Patient in context' });
  t.match(await patient.innerText(), new RegExp(`MedRec id ${demoAddress('alice').slice(0, 6)}`), 'the launched patient is in context');
  t.match(await patient.innerText(), new RegExp(`Opened by \\w+ ${demoAddress('hospital').slice(0, 6)}`), 'it says who opened it: the hospital');
  const prescriptions = appTab.getByRole('region', { name: 'Prescriptions' });
  await prescriptions.getByRole('listitem').first().waitFor();
  t.ok(await prescriptions.getByRole('listitem').count() > 0, 'the hospital’s prescriptions for her are read with the app’s own token');
  t.equal(await checkScreen(appTab, stack.artifacts, 'demo-smart-app'), '', 'demo app: no accessibility violations');
  await context.close();
});
