/**
 * The web apps as `npm start` wires them (the real entry point as a child process, no
 * configuration): the banner's URLs lead to a patient app where a demo identity signs in with
 * one click, and to a provider console whose SMART tab launches the default app, the demo SMART
 * app the server serves, which opens with the launched patient and their records.
 */
import t from 'tap';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { demoAddress } from '../../server/embedded/demo-identities.ts';
import { startNpmStart } from '../support/npm-start.ts';
import { launchBrowser } from './support/browser.ts';
import { checkScreen, demoSignIn } from './support/journeys.ts';

const started = await startNpmStart(t, 'web-e2e');
const { origin } = started;
const artifacts = join(process.cwd(), 'test-artifacts', 'web');
const browser: Browser = await launchBrowser();
t.teardown(() => browser.close());

t.test('the banner names the two apps and the demo SMART app', async (t) => {
  for (const path of ['/patient/', '/provider/', '/demo-app/']) t.match(started.output(), `${origin}${path}`, `the banner prints ${path}`);
});

t.test('a newcomer signs in to the patient app with a demo key in one click', async (t) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await demoSignIn(page, `${origin}/patient/`, 'Demo patient Alice', 'Sign in as Demo patient Alice (demo key)');
  await page.getByRole('heading', { name: 'Who can see my records' }).waitFor();
  await page.getByRole('button', { name: 'Revoke: Corner Pharmacy' }).waitFor();
  t.pass('alice sees the seeded grant to the pharmacy');
  await context.close();
});

t.test('the provider console launches the default SMART app for a patient, which opens with her records', async (t) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await demoSignIn(page, `${origin}/provider/`, 'Mercy General Hospital', 'Sign in as Mercy General Hospital (demo key)');
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'SMART apps' }).click();
  const patient = page.getByLabel('Patient', { exact: true });
  await patient.locator('option').first().waitFor({ state: 'attached' });
  await patient.selectOption({ label: 'Demo patient Alice' });
  // The app choice is left as it comes: the default must be one that works.
  const [appTab] = await Promise.all([context.waitForEvent('page'), page.getByRole('button', { name: 'Launch app' }).click()]);
  const allow = appTab.getByRole('button', { name: 'Allow', exact: true });
  const chart = appTab.getByRole('heading', { name: 'Patient in context' });
  if ((await Promise.race([allow.waitFor().then(() => 'consent'), chart.waitFor().then(() => 'chart')])) === 'consent') await allow.click();
  await chart.waitFor();
  t.match(await appTab.getByRole('region', { name: 'Patient in context' }).innerText(), `MedRec id ${demoAddress('alice').slice(0, 6)}`, 'alice is in context');
  await appTab.getByRole('region', { name: 'Prescriptions' }).getByRole('listitem').first().waitFor();
  t.ok(new URL(appTab.url()).pathname.startsWith('/demo-app/'), 'served by this server');
  t.equal(await checkScreen(appTab, artifacts, 'npm-start-demo-smart-app'), '', 'no accessibility violations');
  await context.close();
});
