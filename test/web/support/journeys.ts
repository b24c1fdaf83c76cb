/** Steps the browser tests share: signing in through the SMART login, screenshots, axe checks. */
import { join } from 'node:path';
import { getBytes, type BaseWallet } from 'ethers';
import type { BrowserContext, Page } from 'playwright-core';
import { axeViolations, describeViolations } from './browser.ts';

/**
 * Signs in from an app's start page as a demo identity: the app's one-click demo button sends the
 * browser to the SMART authorization server, whose login page signs the SIWE message with the
 * identity's published dev key; then (patient picker and) consent; then back to the app.
 */
export async function demoSignIn(page: Page, appUrl: string, displayName: string, appButton: string): Promise<void> {
  return signIn(page, appUrl, appButton, `Sign in as ${displayName}`);
}

/** The same journey with any login-page button (e.g. the wallet's). */
export async function signIn(page: Page, appUrl: string, appButton: string, loginButton: string): Promise<void> {
  const displayName = loginButton;
  await page.goto(appUrl);
  await page.getByRole('button', { name: appButton }).click();
  await page.waitForURL((url) => !url.href.startsWith(appUrl));
  for (let step = 0; step < 6; step++) {
    await page.waitForLoadState('domcontentloaded');
    // Back at the app (with the code it is exchanging): only "Sign out" tells it is done; the
    // app's own sign-in screen may show meanwhile, and must not be clicked again.
    if (page.url().startsWith(appUrl)) {
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      return;
    }
    const login = page.getByRole('button', { name: loginButton, exact: true });
    const allow = page.getByRole('button', { name: 'Allow', exact: true });
    const proceed = page.getByRole('button', { name: 'Continue', exact: true });
    const signOut = page.getByRole('button', { name: 'Sign out' });
    const which = await Promise.race([
      login.waitFor().then(() => 'login'),
      allow.waitFor().then(() => 'allow'),
      proceed.waitFor().then(() => 'continue'),
      signOut.waitFor().then(() => 'done'),
    ]).catch(async (error: unknown) => {
      throw new Error(`sign-in as ${displayName} stuck at ${page.url()}: ${(await page.locator('body').innerText()).slice(0, 400)} (${String(error)})`);
    });
    if (which === 'done') return;
    // A DOM click: the wallet button's navigation starts only after async signing, which
    // Playwright's click would otherwise wait on as if it were its own.
    const target = await (which === 'login' ? login : which === 'allow' ? allow : proceed).elementHandle();
    const navigated = page.waitForEvent('framenavigated', (frame) => frame === page.mainFrame());
    await target?.evaluate((el) => { setTimeout(() => (el as HTMLElement).click(), 0); });
    await navigated;
    await page.waitForLoadState('domcontentloaded');
  }
  throw new Error(`sign-in as ${displayName} did not come back to ${appUrl} (at ${page.url()})`);
}

export async function screenshot(page: Page, dir: string, name: string): Promise<void> {
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
}

/** Screenshot plus the axe-core check of the screen; returns the violations as text ('' = none). */
export async function checkScreen(page: Page, dir: string, name: string): Promise<string> {
  await screenshot(page, dir, name);
  return describeViolations(await axeViolations(page));
}

/** Moves keyboard focus with Tab (at most 60 presses) to the element whose accessible text starts with `name`. */
export async function tabTo(page: Page, name: string): Promise<void> {
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el ? (el.getAttribute('aria-label') ?? el.innerText ?? '').trim() : '';
    });
    if (focused.startsWith(name)) return;
  }
  throw new Error(`Tab never reached “${name}”`);
}

/** True when the page needs no sideways scrolling at its current width. */
export async function fitsWidth(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth);
}

/**
 * A real EIP-1193 wallet in the page (`window.ethereum`) whose key stays in the test process:
 * requests cross to Node through a Playwright binding and are answered by an ethers Wallet.
 */
export async function injectWallet(context: BrowserContext, wallet: BaseWallet, chainId: number): Promise<void> {
  await context.exposeBinding('__medrecTestWallet', async (_source, method: string, paramsJson: string) => {
    const params = JSON.parse(paramsJson) as unknown[];
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts': return JSON.stringify([wallet.address]);
      case 'eth_chainId': return JSON.stringify(`0x${chainId.toString(16)}`);
      case 'personal_sign': {
        const message = String(params[0]);
        return JSON.stringify(await wallet.signMessage(message.startsWith('0x') ? getBytes(message) : message));
      }
      case 'eth_signTypedData_v4': {
        const data = JSON.parse(String(params[1])) as { domain: Record<string, unknown>; types: Record<string, Array<{ name: string; type: string }>>; message: Record<string, unknown> };
        const { EIP712Domain: _domain, ...types } = data.types;
        return JSON.stringify(await wallet.signTypedData(data.domain, types, data.message));
      }
      default: throw new Error(`wallet: unsupported method ${method}`);
    }
  });
  await context.addInitScript(() => {
    const call = (globalThis as unknown as { __medrecTestWallet(m: string, p: string): Promise<string> }).__medrecTestWallet;
    (globalThis as unknown as { ethereum: unknown }).ethereum = {
      request: async ({ method, params }: { method: string; params?: unknown[] }) => JSON.parse(await call(method, JSON.stringify(params ?? []))) as unknown,
    };
  });
}
