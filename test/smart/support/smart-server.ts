/**
 * Test harness: a real Fastify server on loopback with the SMART plugin, a private redis-server,
 * and a browser stand-in with a cookie jar that walks the sign-in, patient picker and consent
 * pages through their HTML forms, signing SIWE messages with the demo cast's dev keys.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { HDNodeWallet } from 'ethers';
import { startRedisServer, type RedisServer } from '../../../server/embedded/redis-server.ts';
import { freePort } from '../../../server/util/free-port.ts';
import { smartOnFhir, type SmartAuthOptions } from '../../../smart-on-fhir/plugin.ts';
import { demoClients } from '../../../smart-on-fhir/demo-clients.ts';
import type { AccessContext } from '../../../server/access/access-context.ts';

export interface SmartTestServer {
  readonly app: FastifyInstance;
  readonly origin: string;
  readonly fhirBase: string;
  readonly redis: Redis;
  readonly redisServer: RedisServer;
  close(): Promise<void>;
}

export type ExtraOptions = Partial<Omit<SmartAuthOptions, 'publicUrl' | 'redis'>>;

/**
 * Starts the plugin alone, with one probe route under the FHIR base that answers with the access
 * context the bearer hook built (what the FHIR layer would receive).
 */
export async function startSmartServer(extra: ExtraOptions = {}, redisServer?: RedisServer): Promise<SmartTestServer> {
  const ownsRedis = !redisServer;
  const rs = redisServer ?? (await startRedisServer());
  const redis = new Redis(rs.url, { maxRetriesPerRequest: 2 });
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const app = Fastify({ logger: false });
  await app.register(smartOnFhir, { publicUrl: origin, redis, prefix: `t${port}:`, clients: demoClients(), ...extra });
  app.get('/fhir/metadata', async () => ({ resourceType: 'CapabilityStatement', rest: [{ mode: 'server', security: app.smartAuth.capabilitySecurity() }] }));
  app.get('/fhir/Probe/:id', async (req) => ({ context: serialise((req as unknown as { accessContext?: AccessContext }).accessContext) }));
  await app.listen({ port, host: '127.0.0.1' });
  return {
    app,
    origin,
    fhirBase: `${origin}/fhir`,
    redis,
    redisServer: rs,
    async close() {
      await app.close();
      redis.disconnect();
      if (ownsRedis) await rs.stop();
    },
  };
}

function serialise(context: AccessContext | undefined): unknown {
  if (!context) return null;
  return { ...context, scopes: context.scopes.map((s) => ({ ...s, interactions: [...s.interactions].join('') })) };
}

/** A browser: cookie jar + manual redirects, form posts like the pages' forms. */
export class Browser {
  readonly #cookies = new Map<string, string>();
  readonly origin: string;

  constructor(origin: string) {
    this.origin = origin;
  }

  async request(url: string, init: { method?: string; form?: Record<string, string | string[]> } = {}): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.#cookies.size) headers.cookie = [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(init.form)) for (const one of ([] as string[]).concat(v)) params.append(k, one);
      body = params.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(new URL(url, this.origin), { method: init.method ?? (body ? 'POST' : 'GET'), headers, redirect: 'manual', ...(body ? { body } : {}) });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [k, ...v] = pair!.split('=');
      this.#cookies.set(k!.trim(), v.join('='));
    }
    return res;
  }

  /** Signs in with a real SIWE signature from `wallet`; ends wherever `next` redirects. */
  async signIn(wallet: HDNodeWallet, next: string): Promise<Response> {
    const { message } = (await (await this.request(`/auth/siwe/message?address=${wallet.address}`)).json()) as { message: string };
    const signature = await wallet.signMessage(message);
    return this.request('/auth/login', { form: { message, signature, next } });
  }
}

export interface AuthorizeOutcome {
  /** The final redirect to the app (with code or error). */
  readonly redirect: URL;
  /** The consent page's HTML, when one was shown. */
  readonly consentHtml?: string;
}

/**
 * Plays the user through `authorizeUrl`: sign in as `wallet`, pick `patient` if asked, then on the
 * consent page allow `chooseScopes(offered)` (default: everything offered as checked).
 */
export async function authorizeAs(
  browser: Browser,
  authorizeUrl: string,
  wallet: HDNodeWallet,
  opts: { patient?: string; chooseScopes?: (offered: { checked: string[]; categories: string[] }) => string[]; decision?: 'approve' | 'deny' } = {},
): Promise<AuthorizeOutcome> {
  let res = await browser.request(authorizeUrl);
  let consentHtml: string | undefined;
  for (let step = 0; step < 8; step++) {
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, browser.origin);
      if (next.origin !== browser.origin) return { redirect: next, ...(consentHtml ? { consentHtml } : {}) };
      res = await browser.request(next.toString());
      continue;
    }
    const html = await res.text();
    const path = new URL(res.url).pathname;
    if (html.includes('id="siwe"')) {
      res = await browser.signIn(wallet, path);
    } else if (html.includes('name="patient"')) {
      const action = /action="([^"]+)"/.exec(html)![1]!;
      res = await browser.request(action, { form: { patient: opts.patient ?? /value="(0x[0-9a-f]{40})"/.exec(html)![1]! } });
    } else if (html.includes('name="decision"')) {
      consentHtml = html;
      const action = /action="([^"]+)"/.exec(html)![1]!;
      const inputs = [...html.matchAll(/<input([^>]*)>/g)].map((m) => m[1]!).filter((a) => a.includes('name="scope"'));
      const valueOf = (a: string): string => decodeEntities(/value="([^"]*)"/.exec(a)![1]!);
      const checked = inputs.filter((a) => a.includes(' checked') || a.includes('type="hidden"')).map(valueOf);
      const categories = inputs.map(valueOf).filter((s) => s.includes('?category='));
      const scopes = opts.chooseScopes ? opts.chooseScopes({ checked, categories }) : checked;
      res = await browser.request(action, { form: { decision: opts.decision ?? 'approve', scope: scopes } });
    } else {
      throw new Error(`unexpected page (${res.status}): ${html.slice(0, 300)}`);
    }
  }
  throw new Error('authorize flow did not finish');
}

function decodeEntities(s: string): string {
  return s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
}
