/**
 * The provider console in headless Chromium against the whole server: providers sign in with
 * their demo keys; one proposes a new provider, others vote it in (strict majority of five);
 * a proposal is rescinded; a patient is linked (salted commitment on chain) and the relationship
 * ended; sources report their health; a registered SMART app is EHR-launched for a patient and
 * the launch completes into a token with that patient in context.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { Wallet } from 'ethers';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { linkCommitment, deriveLinkSalt } from '../../contracts/link-commitment.ts';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { HL7_DEMO_SOURCE_ID } from '../../adapters/hl7v2/demo-feed-source.ts';
import { launchBrowser } from './support/browser.ts';
import { checkScreen, demoSignIn } from './support/journeys.ts';
import { startWebStack, type WebStack } from './support/web-stack.ts';

const LAUNCH_APP = 'web-test-ehr-app';
let stack: WebStack;
let browser: Browser;

t.before(async () => {
  stack = await startWebStack('provider', (origin) => [
    { clientId: LAUNCH_APP, name: 'EHR launch test app', type: 'public', redirectUris: [`${origin}/healthz`], launchUrl: `${origin}/healthz` },
  ]);
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
  await page.getByText('1 of 3 votes needed').waitFor();

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
  await page.getByRole('status').filter({ hasText: 'Removal proposed' }).waitFor();
  await page.getByRole('region', { name: 'Open proposals' }).getByText('Remove Hillside OpenMRS Clinic').waitFor();
  t.pass('a removal motion is open for the others to vote on');
  await hospital.context.close();
});

t.test('a provider links a patient (commitment on chain), refuses a wrong link, and ends the relationship', async (t) => {
  const { context, page } = await signedInAs('Mercy General Hospital');
  const dave = demoAddress('dave');
  const hospital = demoAddress('hospital');
  await tab(page, 'Patients');
  await page.getByRole('heading', { name: 'Linked patients' }).waitFor();
  await page.getByText('Demo patient Alice').waitFor();
  t.match(await page.getByRole('region', { name: 'Linked patients' }).innerText(), /Corner Pharmacy: prescriptions and medication records/, 'grants that involve our records are shown');

  await page.getByLabel('Local patient id').fill('c0a7e11e-0000-4000-8000-00000000ca01');
  await page.getByLabel("Patient's address").fill(dave);
  await page.getByRole('button', { name: 'Link patient' }).click();
  await page.getByRole('status').filter({ hasText: 'already linked to another address' }).waitFor();
  t.match(await page.getByRole('region', { name: 'Link a patient' }).innerText(), /Check the local id/, 'the failure says what to do next');

  const localId = `mgh-${randomBytes(3).toString('hex')}`;
  await page.getByLabel('Local patient id').fill(localId);
  await page.getByRole('button', { name: 'Link patient' }).click();
  await page.getByRole('status').filter({ hasText: 'Patient linked' }).waitFor();
  t.equal(await checkScreen(page, stack.artifacts, 'provider-patients'), '', 'patients screen: no accessibility violations');
  const relationship = await stack.chain.client.relationships.read('getRelationship', hospital, dave);
  const salt = deriveLinkSalt(demoWallet('hospital').privateKey, dave);
  t.ok(relationship.active, 'the relationship is on chain');
  t.equal(relationship.commitment, linkCommitment({ provider: hospital, patient: dave, salt, links: [{ sourceId: 'hospital', localId }] }), 'only the salted commitment of the link went on chain');

  await page.getByRole('button', { name: 'End relationship with Demo patient Dave' }).click();
  await page.getByRole('status').filter({ hasText: 'Relationship ended' }).waitFor();
  t.notOk((await stack.chain.client.relationships.read('getRelationship', hospital, dave)).active, 'the relationship ended on chain');
  await context.close();
});

t.test('sources show their health, and a feed its dead letters and queue', async (t) => {
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
  t.match(cells[5] ?? '', /\d+ waiting/, 'the inbox queue depth is shown');
  t.equal(await checkScreen(feed.page, stack.artifacts, 'provider-sources'), '', 'sources screen: no accessibility violations');
  await feed.context.close();
});

t.test('a registered SMART app is EHR-launched for a patient and gets that patient in context', async (t) => {
  const { context, page } = await signedInAs('Mercy General Hospital');
  await tab(page, 'SMART apps');
  await page.getByLabel('App', { exact: true }).selectOption({ label: 'EHR launch test app' });
  await page.getByLabel('Patient', { exact: true }).selectOption({ label: 'Demo patient Alice' });
  t.equal(await checkScreen(page, stack.artifacts, 'provider-smart'), '', 'SMART screen: no accessibility violations');
  const [tabPage] = await Promise.all([context.waitForEvent('page'), page.getByRole('button', { name: 'Launch app' }).click()]);
  await tabPage.waitForLoadState('domcontentloaded');
  const launched = new URL(tabPage.url());
  t.equal(launched.searchParams.get('iss'), `${stack.origin}/fhir`, 'the app learns the FHIR base');
  const launch = launched.searchParams.get('launch');
  t.ok(launch, 'and a launch id');

  // The app's side of the EHR launch: authorize with the launch id (PKCE), consent, token.
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL(`${stack.origin}/auth/authorize`);
  for (const [k, v] of Object.entries({
    response_type: 'code', client_id: LAUNCH_APP, redirect_uri: `${stack.origin}/healthz`, scope: 'launch openid fhirUser patient/*.rs',
    state: 'ehr-state', aud: `${stack.origin}/fhir`, launch: launch ?? '', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  })) authorize.searchParams.set(k, v);
  await tabPage.goto(authorize.toString());
  const allow = tabPage.getByRole('button', { name: 'Allow', exact: true });
  const next = await Promise.race([allow.waitFor().then(() => 'consent'), tabPage.waitForURL(/\/healthz\?/).then(() => 'back')]);
  if (next === 'consent') await allow.click();
  await tabPage.waitForURL(/\/healthz\?/);
  const code = new URL(tabPage.url()).searchParams.get('code') ?? '';
  const token = await fetch(`${stack.origin}/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: `${stack.origin}/healthz`, client_id: LAUNCH_APP, code_verifier: verifier }),
  });
  const body = (await token.json()) as { patient?: string };
  t.equal(body.patient, demoAddress('alice'), 'the token carries the launched patient');
  await context.close();
});
