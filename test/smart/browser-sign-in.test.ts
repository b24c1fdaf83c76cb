/**
 * The sign-in pages in a real browser (headless Chromium): an EIP-1193 wallet signs the SIWE
 * message through the page's own script (under its Content-Security-Policy), the proxy picks the
 * patient they act for, allows on the consent screen, and the app receives its code. Every page
 * passes axe-core's WCAG 2.1 A/AA rules.
 */
import t from 'tap';
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { demoAddress, demoWallet } from '../../server/embedded/demo-identities.ts';
import { demoClients, demoSigners, describeDemoParticipant } from '../../smart-on-fhir/demo-clients.ts';
import { accessibilityViolations, launchChromium } from './support/chromium.ts';
import { startSmartServer } from './support/smart-server.ts';
import { demoSnapshot } from './support/full-stack.ts';

const server = await startSmartServer({ clients: demoClients(), permissionSnapshot: async (s) => demoSnapshot(s), describeParticipant: describeDemoParticipant, demoSigners: demoSigners() });
t.teardown(() => server.close());

// The app: whatever reaches its callback is recorded.
const received: URL[] = [];
const appServer = createServer((req, res) => {
  received.push(new URL(req.url ?? '/', 'http://127.0.0.1'));
  res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><html lang="en"><title>App</title><main><h1>App</h1></main></html>');
});
await new Promise<void>((resolve) => appServer.listen(0, '127.0.0.1', resolve));
const appPort = (appServer.address() as { port: number }).port;
t.teardown(() => new Promise<void>((resolve) => appServer.close(() => resolve())));

const browser = await launchChromium();
t.teardown(() => browser.close());

t.test('wallet sign-in, patient picker and consent in Chromium, accessible, ending at the app with a code', async (t) => {
  const wallet = demoWallet('proxy');
  const page = await browser.newPage();
  // A minimal EIP-1193 provider, as a wallet extension injects it; signing happens in Node with the dev key.
  await page.exposeFunction('walletSign', (message: string) => wallet.signMessage(message));
  await page.addInitScript((address: string) => {
    (window as unknown as { ethereum: unknown }).ethereum = {
      request: async ({ method, params }: { method: string; params?: unknown[] }) => {
        if (method === 'eth_requestAccounts') return [address];
        if (method === 'personal_sign') return (window as unknown as { walletSign(m: string): Promise<string> }).walletSign(String(params?.[0]));
        throw new Error(`unsupported ${method}`);
      },
    };
  }, wallet.address);

  const challenge = createHash('sha256').update(randomBytes(48).toString('base64url')).digest('base64url');
  const redirectUri = `http://127.0.0.1:${appPort}/callback`;
  const url = `${server.origin}/auth/authorize?${new URLSearchParams({ response_type: 'code', client_id: 'medrec-demo-patient-app', redirect_uri: redirectUri, state: 'browser-state', aud: server.fhirBase, scope: 'launch/patient openid fhirUser patient/*.rs patient/Observation.rs', code_challenge: challenge, code_challenge_method: 'S256' })}`;

  const login = await page.goto(url);
  t.match(login?.headers()['content-security-policy'], /script-src 'nonce-/);
  t.equal(login?.headers()['x-frame-options'], 'DENY');
  t.equal(await accessibilityViolations(page), '', 'login page: no axe violations');
  await page.getByRole('button', { name: 'Sign in with your wallet' }).click();

  await page.getByRole('heading', { name: 'Choose a patient' }).waitFor();
  t.equal(await accessibilityViolations(page), '', 'patient picker: no axe violations');
  const alice = page.getByRole('radio', { name: /Demo patient Alice/ });
  t.ok(await alice.isChecked(), 'the proxy acts for alice, and only for her');
  t.equal(await page.getByRole('radio').count(), 1);
  await page.getByRole('button', { name: 'Continue' }).click();

  await page.getByRole('button', { name: 'Allow', exact: true }).waitFor();
  t.equal(await accessibilityViolations(page), '', 'consent page: no axe violations');
  t.match(await page.locator('body').innerText(), /delegation/);
  await page.getByRole('checkbox', { name: /Laboratory results/ }).check();
  await page.getByRole('checkbox', { name: /This patient’s records: Observation/ }).uncheck();
  await page.getByRole('button', { name: 'Allow', exact: true }).click();
  await page.waitForURL((u) => u.href.startsWith(redirectUri));

  const back = received.find((u) => u.pathname === '/callback')!;
  t.equal(back.searchParams.get('state'), 'browser-state');
  t.match(back.searchParams.get('code'), /^[A-Za-z0-9_-]+$/);
  t.equal(demoAddress('proxy'), wallet.address.toLowerCase());
  await page.close();
});
