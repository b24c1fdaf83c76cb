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

/**
 * What needs sideways scrolling at the page's current width: the page itself, or an inner scroll
 * area (a wide table inside an `overflow-x: auto` box hides the same problem from the page's
 * width). '' when everything fits.
 */
export async function sidewaysScrolling(page: Page): Promise<string> {
  return page.evaluate(() => {
    const wide: string[] = [];
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth) wide.push(`the page (${root.scrollWidth} px in ${root.clientWidth} px)`);
    for (const el of Array.from(document.querySelectorAll<HTMLElement>('body *'))) {
      const overflow = getComputedStyle(el).overflowX;
      if ((overflow === 'auto' || overflow === 'scroll') && el.scrollWidth > el.clientWidth + 1) {
        wide.push(`${el.tagName.toLowerCase()}${el.className ? `.${el.className.split(' ').join('.')}` : ''} (${el.scrollWidth} px in ${el.clientWidth} px)`);
      }
    }
    return wide.join('; ');
  });
}

export interface TestWalletOptions {
  /** The chain the wallet is on when the page opens (default 1: a fresh wallet is on Ethereum mainnet). */
  readonly startChainId?: number;
  /** Chains the wallet can switch to without adding them (default: 1 only). */
  readonly knownChainIds?: readonly number[];
  /** The person refuses every network switch and addition (EIP-1193 code 4001). */
  readonly refuseSwitch?: boolean;
}

export interface TestWallet {
  /** Every method the page asked for, in order. */
  readonly calls: readonly string[];
  /** Networks the page asked the wallet to add (wallet_addEthereumChain parameters). */
  readonly added: ReadonlyArray<{ chainId: string; chainName: string; rpcUrls: string[] }>;
  chainId(): number;
  /** Typed-data signatures wait (the person has not confirmed yet) until the returned function runs. */
  holdSignatures(): () => void;
}

/**
 * A real EIP-1193 wallet in the page (`window.ethereum`) whose key stays in the test process:
 * requests cross to Node through a Playwright binding and are answered by an ethers Wallet. Like
 * MetaMask, it is on one network at a time, switches only to networks it knows (4902 otherwise),
 * and refuses to sign typed data whose domain names another chain than the active one.
 */
export async function injectWallet(context: BrowserContext, wallet: BaseWallet, options: TestWalletOptions = {}): Promise<TestWallet> {
  let active = options.startChainId ?? 1;
  const known = new Set(options.knownChainIds ?? [1]);
  const calls: string[] = [];
  const added: Array<{ chainId: string; chainName: string; rpcUrls: string[] }> = [];
  const fail = (code: number, message: string) => Object.assign(new Error(message), { code });
  let held: Promise<void> | undefined;
  const answer = async (method: string, params: unknown[]): Promise<unknown> => {
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts': return [wallet.address];
      case 'eth_chainId': return `0x${active.toString(16)}`;
      case 'wallet_switchEthereumChain': {
        const wanted = Number((params[0] as { chainId: string }).chainId);
        if (!known.has(wanted)) throw fail(4902, `Unrecognized chain ID "${(params[0] as { chainId: string }).chainId}". Try adding the chain using wallet_addEthereumChain first.`);
        if (options.refuseSwitch) throw fail(4001, 'User rejected the request.');
        active = wanted;
        return null;
      }
      case 'wallet_addEthereumChain': {
        const chain = params[0] as { chainId: string; chainName: string; rpcUrls: string[] };
        if (options.refuseSwitch) throw fail(4001, 'User rejected the request.');
        added.push(chain);
        known.add(Number(chain.chainId));
        active = Number(chain.chainId);
        return null;
      }
      case 'personal_sign': {
        const message = String(params[0]);
        return wallet.signMessage(message.startsWith('0x') ? getBytes(message) : message);
      }
      case 'eth_signTypedData_v4': {
        const data = JSON.parse(String(params[1])) as { domain: Record<string, unknown>; types: Record<string, Array<{ name: string; type: string }>>; message: Record<string, unknown> };
        if (String(params[0]).toLowerCase() !== wallet.address.toLowerCase()) throw fail(4100, 'The requested account has not been authorized by the user.');
        if (data.domain.chainId !== undefined && Number(data.domain.chainId) !== active) {
          throw fail(-32602, `Provided chainId "${String(data.domain.chainId)}" must match the active chainId "${active}"`);
        }
        const { EIP712Domain: _domain, ...types } = data.types;
        await held;
        return wallet.signTypedData(data.domain, types, data.message);
      }
      default: throw fail(4200, `wallet: unsupported method ${method}`);
    }
  };
  await context.exposeBinding('__medrecTestWallet', async (_source, method: string, paramsJson: string) => {
    calls.push(method);
    try {
      return JSON.stringify({ result: await answer(method, JSON.parse(paramsJson) as unknown[]) });
    } catch (error) {
      const e = error as { code?: number; message: string };
      return JSON.stringify({ error: { code: e.code ?? -32603, message: e.message } });
    }
  });
  await context.addInitScript(() => {
    const call = (globalThis as unknown as { __medrecTestWallet(m: string, p: string): Promise<string> }).__medrecTestWallet;
    (globalThis as unknown as { ethereum: unknown }).ethereum = {
      request: async ({ method, params }: { method: string; params?: unknown[] }) => {
        const reply = JSON.parse(await call(method, JSON.stringify(params ?? []))) as { result?: unknown; error?: { code: number; message: string } };
        if (reply.error) throw Object.assign(new Error(reply.error.message), { code: reply.error.code });
        return reply.result;
      },
    };
  });
  return {
    calls,
    added,
    chainId: () => active,
    holdSignatures: () => {
      let release = () => {};
      held = new Promise<void>((resolve) => { release = resolve; });
      return () => { held = undefined; release(); };
    },
  };
}
