/**
 * The browser side of SMART App Launch: `authorize` (GET and POST), Sign-In with Ethereum, the
 * patient picker, the consent screen, and the EHR launch that starts an app with a patient in
 * context. Unknown clients and unregistered redirect URIs get an error page, never a redirect;
 * every other problem goes back to the app as `error=` with its `state`.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PermissionEntry } from '../server/access/permission-snapshot.ts';
import { allowedForClient, redirectUriAllowed, type SmartClient } from './clients.ts';
import type { InteractionRecord, LaunchRecord } from './grant-store.ts';
import { checkLaunchEncounter } from './launch-encounter.ts';
import { CODE_CHALLENGE } from './pkce.ts';
import { consentPage, errorPage, loginPage, managePage, patientPickerPage, type ConsentScopeRow, type PatientChoice } from './pages.ts';
import { categorySubScopes, CONTEXT_SCOPES, hasLevel, parseResourceScope, parseScopes, scopeCovers } from './scopes.ts';
import type { SmartContext } from './smart-context.ts';

const SESSION_COOKIE = 'medrec_session';
const INTERACTION_SECONDS = 900;
const SESSION_SECONDS = 8 * 3600;

type Params = Record<string, string | undefined>;

const nonces = new WeakMap<FastifyRequest, string>();

/** The CSP nonce of this response's inline script. */
function pageNonce(req: FastifyRequest): string {
  let nonce = nonces.get(req);
  if (!nonce) {
    nonce = randomBytes(16).toString('base64');
    nonces.set(req, nonce);
  }
  return nonce;
}

/**
 * The pages' security headers: no framing (the consent page must not be clickjacked), no
 * third-party anything, only our own nonce'd script, no referrer carrying codes or ids.
 */
export function pageSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onSend', async (req, reply, payload) => {
    if (!String(reply.getHeader('content-type') ?? '').startsWith('text/html')) return payload;
    const nonce = nonces.get(req);
    reply
      .header(
        'content-security-policy',
        `default-src 'none'; style-src 'unsafe-inline'; ${nonce ? `script-src 'nonce-${nonce}'; ` : ''}connect-src 'self'; base-uri 'none'; frame-ancestors 'none'`,
      )
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store');
    return payload;
  });
}

export function registerAuthorizeRoutes(app: FastifyInstance, ctx: SmartContext): void {
  pageSecurityHeaders(app);
  const formSchema = { type: 'object', additionalProperties: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } };

  app.get('/auth/authorize', { schema: { querystring: formSchema } }, (req, reply) => authorize(ctx, flat(req.query), reply));
  app.post('/auth/authorize', { schema: { body: formSchema } }, (req, reply) => {
    if (!isForm(req)) return reply.code(400).type('text/html').send(errorPage('Bad request', 'authorize POST must be form-encoded.'));
    return authorize(ctx, flat(req.body), reply);
  });

  app.get<{ Params: { id: string } }>('/auth/interaction/:id', async (req, reply) => {
    const interaction = await ctx.store.getInteraction(req.params.id);
    if (!interaction) return reply.code(400).type('text/html').send(errorPage('Sign-in expired', 'This sign-in request expired or was already completed. Start again from the app.'));
    const client = await ctx.clients.get(interaction.clientId);
    if (!client) return reply.code(400).type('text/html').send(errorPage('Unknown app', 'The app is no longer registered.'));
    const session = await ctx.store.getSession(cookie(req, SESSION_COOKIE));
    const self = `/auth/interaction/${req.params.id}`;
    if (!session || (interaction.launch && interaction.launch.subject !== session.address)) {
      return reply.type('text/html').send(loginPage({ appName: client.name, next: self, demo: ctx.options.demoSigners ?? [], nonce: pageNonce(req) }));
    }
    const scopes = parseScopes(interaction.scope);
    // A patient picked in another session (a shared browser, a signed-out user) is picked again.
    const patient = interaction.launch?.patient ?? (await pickedFor(ctx, interaction, session.address));
    if (needsPatient(scopes) && !patient) {
      const patients = await patientChoices(ctx, session.address);
      return reply.type('text/html').send(patientPickerPage({ appName: client.name, action: `${self}/patient`, patients }));
    }
    return reply.type('text/html').send(await renderConsent(ctx, client, interaction, session.address, patient, `${self}/consent`));
  });

  app.post<{ Params: { id: string } }>('/auth/interaction/:id/patient', { schema: { body: formSchema } }, async (req, reply) => {
    const interaction = await ctx.store.getInteraction(req.params.id);
    const session = await ctx.store.getSession(cookie(req, SESSION_COOKIE));
    if (!interaction || !session) return reply.code(400).type('text/html').send(errorPage('Sign-in expired', 'Start again from the app.'));
    const chosen = flat(req.body).patient?.toLowerCase();
    const allowed = await patientChoices(ctx, session.address);
    if (!chosen || !allowed.some((p) => p.address === chosen)) {
      return reply.code(403).type('text/html').send(errorPage('Not allowed', 'You may not act for that patient.'));
    }
    await ctx.store.updateInteraction(req.params.id, { ...interaction, patient: chosen });
    return reply.code(303).header('location', `/auth/interaction/${req.params.id}`).send();
  });

  app.post<{ Params: { id: string } }>('/auth/interaction/:id/consent', { schema: { body: formSchema } }, async (req, reply) => {
    const interaction = await ctx.store.getInteraction(req.params.id);
    const session = await ctx.store.getSession(cookie(req, SESSION_COOKIE));
    if (!interaction || !session) return reply.code(400).type('text/html').send(errorPage('Sign-in expired', 'Start again from the app.'));
    if (interaction.launch && interaction.launch.subject !== session.address) {
      return reply.code(403).type('text/html').send(errorPage('Not allowed', 'The launch belongs to another user.'));
    }
    const body = req.body as Record<string, string | string[] | undefined>;
    const back = (params: Params): FastifyReply => {
      return reply.code(303).header('location', withQuery(interaction.redirectUri, { ...params, state: interaction.state })).send();
    };
    if (!(await ctx.store.finishInteraction(req.params.id))) {
      return reply.code(400).type('text/html').send(errorPage('Already answered', 'This request was already answered.'));
    }
    if (body.decision !== 'approve') return back({ error: 'access_denied', error_description: 'The user denied access.' });
    const chosen = ([] as string[]).concat(body.scope ?? []);
    const granted = grantedFromConsent(interaction.scope, chosen);
    const scopes = parseScopes(granted.join(' '));
    const patient = interaction.launch?.patient ?? (await pickedFor(ctx, interaction, session.address));
    if (needsPatient(parseScopes(interaction.scope)) && !patient) return back({ error: 'invalid_request', error_description: 'No patient was chosen.' });
    if (scopes.resources.length === 0 && !scopes.context.has('openid')) {
      return back({ error: 'access_denied', error_description: 'No scope was allowed.' });
    }
    const fhirUser = await ctx.fhirUserOf(session.address);
    const code = await ctx.store.createCode(
      {
        clientId: interaction.clientId,
        redirectUri: interaction.redirectUri,
        ...(interaction.codeChallenge ? { codeChallenge: interaction.codeChallenge } : {}),
        scope: granted.join(' '),
        subject: session.address,
        ...(patient ? { patient } : {}),
        ...(interaction.launch?.encounter ? { encounter: interaction.launch.encounter } : {}),
        fhirUser,
        ...(interaction.nonce ? { nonce: interaction.nonce } : {}),
        authTime: session.authTime,
        needPatientBanner: !interaction.launch,
      },
      ctx.lifetimes.code,
    );
    return back({ code });
  });

  // --- Sign-In with Ethereum -----------------------------------------------------------------

  app.get('/auth/siwe/message', { schema: { querystring: { type: 'object', required: ['address'], properties: { address: { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' } } } } }, async (req, reply) => {
    const { address } = req.query as { address: string };
    return reply.header('cache-control', 'no-store').send({ message: await ctx.siwe.message(address) });
  });

  app.get('/auth/login', async (req, reply) => {
    const next = safeNext(flat(req.query).next);
    return reply.type('text/html').send(loginPage({ next, demo: ctx.options.demoSigners ?? [], nonce: pageNonce(req) }));
  });

  const login = async (req: FastifyRequest, reply: FastifyReply, message: string | undefined, signature: string | undefined, next: string): Promise<FastifyReply> => {
    const result = message && signature ? await ctx.siwe.verify(message, signature) : { error: 'The sign-in message and signature are missing.' };
    if ('error' in result) {
      return reply.code(401).type('text/html').send(loginPage({ next, demo: ctx.options.demoSigners ?? [], error: result.error, nonce: pageNonce(req) }));
    }
    const sid = await ctx.store.createSession({ address: result.address, authTime: Math.floor(Date.now() / 1000) }, SESSION_SECONDS);
    const secure = ctx.endpoints.issuer.startsWith('https:') ? '; Secure' : '';
    return reply
      .code(303)
      .header('set-cookie', `${SESSION_COOKIE}=${sid}; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=${SESSION_SECONDS}${secure}`)
      .header('location', next)
      .send();
  };

  app.post('/auth/login', { schema: { body: formSchema } }, async (req, reply) => {
    const body = flat(req.body);
    // Browsers submit form newlines as CRLF; the wallet signed the LF text.
    return login(req, reply, body.message?.replace(/\r\n/g, '\n'), body.signature, safeNext(body.next));
  });

  if (ctx.options.demoSigners?.length) {
    app.post('/auth/login/demo', { schema: { body: formSchema } }, async (req, reply) => {
      const body = flat(req.body);
      const signer = ctx.options.demoSigners!.find((d) => d.handle === body.handle);
      if (!signer) return reply.code(400).type('text/html').send(errorPage('Unknown identity', 'No such demo identity.'));
      const message = await ctx.siwe.message(signer.address);
      return login(req, reply, message, await signer.signMessage(message), safeNext(body.next));
    });
  }

  app.post('/auth/logout', async (req, reply) => {
    const sid = cookie(req, SESSION_COOKIE);
    if (sid) await ctx.store.deleteSession(sid);
    return reply.code(303).header('set-cookie', `${SESSION_COOKIE}=; Path=/auth; HttpOnly; SameSite=Lax; Max-Age=0`).header('location', '/auth/login').send();
  });

  // --- the user's apps with access (management_endpoint) --------------------------------------

  const manage = async (req: FastifyRequest, reply: FastifyReply, revoked?: string): Promise<FastifyReply> => {
    const session = await ctx.store.getSession(cookie(req, SESSION_COOKIE));
    if (!session) return reply.code(303).header('location', '/auth/login?next=/auth/manage').send();
    const grants = await ctx.store.grantsOfUser(session.address);
    const rows = await Promise.all(
      grants.map(async (g) => ({
        id: g.id,
        appName: (await ctx.clients.get(g.clientId))?.name ?? g.clientId,
        clientId: g.clientId,
        scope: g.scope,
        ...(g.patient ? { patientLabel: g.patient === session.address ? 'yourself' : ((await ctx.describe(g.patient)).displayName ?? g.patient) } : {}),
        expiresAt: g.expiresAt,
      })),
    );
    return reply.type('text/html').send(managePage({ user: session.address, grants: rows, ...(revoked ? { revoked } : {}) }));
  };
  app.get('/auth/manage', (req, reply) => manage(req, reply));
  app.post('/auth/manage/revoke', { schema: { body: formSchema } }, async (req, reply) => {
    const session = await ctx.store.getSession(cookie(req, SESSION_COOKIE));
    if (!session) return reply.code(303).header('location', '/auth/login?next=/auth/manage').send();
    const id = flat(req.body).grant;
    const grant = id ? await ctx.store.getGrant(id) : undefined;
    if (!grant || grant.kind !== 'user' || grant.subject !== session.address) {
      return reply.code(404).type('text/html').send(errorPage('Not found', 'No such access of yours.'));
    }
    await ctx.store.revokeGrant(grant.id);
    return manage(req, reply, (await ctx.clients.get(grant.clientId))?.name ?? grant.clientId);
  });

  // --- EHR launch: the signed-in EHR user starts an app with a patient (and encounter) ---------

  app.get(
    '/auth/ehr-launch',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['client_id', 'patient'],
          properties: { client_id: { type: 'string' }, patient: { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' }, encounter: { type: 'string', pattern: '^[A-Za-z0-9\\-.]{1,64}$' } },
        },
      },
    },
    async (req, reply) => {
      const q = req.query as { client_id: string; patient: string; encounter?: string };
      const session = await ctx.store.getSession(cookie(req, SESSION_COOKIE));
      if (!session) return reply.code(303).header('location', `/auth/login?next=${encodeURIComponent(req.url)}`).send();
      const client = await ctx.clients.get(q.client_id);
      if (!client?.launchUrl) return reply.code(400).type('text/html').send(errorPage('Cannot launch', 'The app is unknown or has no launch URL.'));
      const patient = q.patient.toLowerCase();
      if (!(await patientChoices(ctx, session.address)).some((p) => p.address === patient)) {
        return reply.code(403).type('text/html').send(errorPage('Not allowed', 'You may not open that patient’s records.'));
      }
      if (q.encounter) {
        const check = await checkLaunchEncounter(ctx, { user: session.address, clientId: client.clientId, patient, encounter: q.encounter });
        if (!check.ok) return reply.code(check.status).type('text/html').send(errorPage('Cannot launch', check.reason));
      }
      const launch: LaunchRecord = { clientId: client.clientId, subject: session.address, patient, ...(q.encounter ? { encounter: q.encounter } : {}) };
      const id = await ctx.store.createLaunch(launch, 600);
      return reply.code(302).header('location', withQuery(client.launchUrl, { iss: ctx.endpoints.fhirBaseUrl, launch: id })).send();
    },
  );
}

async function authorize(ctx: SmartContext, p: Params, reply: FastifyReply): Promise<FastifyReply> {
  const client = await ctx.clients.get(p.client_id);
  if (!client || client.type === 'backend') {
    return reply.code(400).type('text/html').send(errorPage('Unknown app', 'The app is not registered with this server.'));
  }
  if (!p.redirect_uri || !redirectUriAllowed(client, p.redirect_uri)) {
    return reply.code(400).type('text/html').send(errorPage('Unregistered redirect', 'The redirect URI is not registered for this app.'));
  }
  const redirectUri = p.redirect_uri;
  const fail = (error: string, description: string): FastifyReply =>
    reply.code(302).header('location', withQuery(redirectUri, { error, error_description: description, state: p.state })).send();

  if (p.response_type !== 'code') return fail(p.response_type ? 'unsupported_response_type' : 'invalid_request', 'response_type must be code');
  if (!p.state) return fail('invalid_request', 'state is required');
  // Every grant needs the user's consent on screen; silent re-authorization is not offered.
  if (p.prompt?.split(' ').includes('none')) return fail('interaction_required', 'this server always asks the user');
  const aud = p.aud ?? p.resource;
  if (!aud || normaliseBase(aud) !== normaliseBase(ctx.endpoints.fhirBaseUrl)) {
    return fail('invalid_request', `aud must be this server's FHIR base URL ${ctx.endpoints.fhirBaseUrl}`);
  }
  if (p.code_challenge_method !== undefined && p.code_challenge_method !== 'S256') return fail('invalid_request', 'code_challenge_method must be S256');
  if (p.code_challenge !== undefined && !CODE_CHALLENGE.test(p.code_challenge)) return fail('invalid_request', 'code_challenge is malformed');
  if (!p.code_challenge && !client.pkceOptional) return fail('invalid_request', 'PKCE (code_challenge with S256) is required');
  if (p.code_challenge && !p.code_challenge_method) return fail('invalid_request', 'code_challenge_method must be S256');

  let launch: LaunchRecord | undefined;
  if (p.launch) {
    launch = await ctx.store.takeLaunch(p.launch);
    if (!launch || launch.clientId !== client.clientId) return fail('invalid_request', 'unknown or expired launch');
  }
  const asked = parseScopes(p.scope);
  const allowed = allowedForClient(client, asked.accepted).filter((s) => !s.startsWith('system/'));
  if (allowed.filter((s) => !(CONTEXT_SCOPES as readonly string[]).includes(s)).length === 0 && !allowed.includes('openid')) {
    return fail('invalid_scope', 'none of the requested scopes can be granted to this app');
  }
  const interaction: InteractionRecord = {
    clientId: client.clientId,
    redirectUri,
    state: p.state,
    scope: allowed.join(' '),
    ...(p.code_challenge ? { codeChallenge: p.code_challenge } : {}),
    ...(p.nonce ? { nonce: p.nonce } : {}),
    ...(launch ? { launch } : {}),
  };
  const id = await ctx.store.createInteraction(interaction, INTERACTION_SECONDS);
  return reply.code(302).header('location', `/auth/interaction/${id}`).send();
}

/**
 * What the user allowed: each chosen scope must be an asked one or narrow an asked one (category
 * sub-scopes); launch scopes are not the user's to drop. Order follows the request.
 */
export function grantedFromConsent(askedScope: string, chosen: readonly string[]): string[] {
  const asked = parseScopes(askedScope);
  const granted: string[] = asked.accepted.filter((s) => s.startsWith('launch'));
  for (const raw of new Set(chosen)) {
    if (granted.includes(raw)) continue;
    if ((CONTEXT_SCOPES as readonly string[]).includes(raw)) {
      if (asked.context.has(raw as (typeof CONTEXT_SCOPES)[number])) granted.push(raw);
      continue;
    }
    const scope = parseResourceScope(raw);
    if (scope && asked.resources.some((a) => scopeCovers(a, scope))) granted.push(raw);
  }
  // A whole resource scope and its own category sub-scopes: the whole one wins.
  return granted.filter((raw) => {
    const scope = parseResourceScope(raw);
    return !scope?.constraints || !granted.some((g) => g !== raw && parseResourceScope(g) && scopeCovers(parseResourceScope(g)!, scope));
  });
}

function needsPatient(scopes: ReturnType<typeof parseScopes>): boolean {
  return scopes.context.has('launch/patient') || hasLevel(scopes, 'patient');
}

async function patientChoices(ctx: SmartContext, subject: string): Promise<PatientChoice[]> {
  const snapshot = await ctx.snapshot(subject);
  const now = Math.floor(Date.now() / 1000);
  // Snapshots hold a `self` entry for everyone; only a patient (or an unknown role) is a patient.
  const role = (await ctx.describe(subject)).role;
  const seen = new Set<string>(role && role !== 'patient' ? [subject] : []);
  const out: PatientChoice[] = [];
  for (const e of snapshot.entries) {
    if (!e.actions.includes('read') || seen.has(e.patient) || !live(e, now)) continue;
    seen.add(e.patient);
    const info = await ctx.describe(e.patient);
    out.push({ address: e.patient, label: e.patient === subject ? `Yourself${info.displayName ? ` (${info.displayName})` : ''}` : (info.displayName ?? 'Patient') });
  }
  return out;
}

/** The interaction's picked patient, if the signed-in user may act for them. */
async function pickedFor(ctx: SmartContext, interaction: InteractionRecord, subject: string): Promise<string | undefined> {
  const picked = interaction.patient;
  if (!picked) return undefined;
  return (await patientChoices(ctx, subject)).some((p) => p.address === picked) ? picked : undefined;
}

function live(e: PermissionEntry, now: number): boolean {
  return (e.notBefore === 0 || e.notBefore <= now) && (e.expiresAt === 0 || e.expiresAt > now);
}

async function renderConsent(
  ctx: SmartContext,
  client: SmartClient,
  interaction: InteractionRecord,
  user: string,
  patient: string | undefined,
  action: string,
): Promise<string> {
  const scopes = parseScopes(interaction.scope);
  const snapshot = await ctx.snapshot(user);
  const now = Math.floor(Date.now() / 1000);
  const entries = snapshot.entries.filter((e) => live(e, now) && (!patient || e.patient === patient));
  const names = new Map<string, string>();
  const name = async (address: string): Promise<string> => {
    if (!names.has(address)) names.set(address, (await ctx.describe(address)).displayName ?? address);
    return names.get(address)!;
  };
  const providersText = async (e: PermissionEntry): Promise<string> =>
    e.providers === '*' ? 'every provider' : (await Promise.all(e.providers.map(name))).join(', ');
  const rows: ConsentScopeRow[] = [];
  for (const raw of scopes.accepted) {
    const resource = parseResourceScope(raw);
    if (!resource) {
      rows.push({ raw, label: CONTEXT_LABELS[raw] ?? raw, fixed: raw.startsWith('launch'), categories: [] });
      continue;
    }
    const covering = entries.filter((e) => resource.resourceType === '*' || e.resourceTypes === '*' || e.resourceTypes.includes(resource.resourceType));
    const onChain = covering.length
      ? (await Promise.all(covering.map(async (e) => `${e.resourceTypes === '*' ? 'all record types' : e.resourceTypes.join(', ')} from ${await providersText(e)} (${e.basis}${e.expiresAt ? `, until ${new Date(e.expiresAt * 1000).toISOString().slice(0, 10)}` : ''})`))).join('; ')
      : 'none: the app will see no records of this type';
    const what = resource.resourceType === '*' ? 'all record types' : resource.resourceType;
    const verbs = [...resource.interactions].map((i) => INTERACTION_WORDS[i]).join(', ');
    rows.push({ raw, label: `${LEVEL_WORDS[resource.level]}: ${what} (${verbs})`, fixed: false, categories: categorySubScopes(resource), onChain });
  }
  const grantsSummary = entries.length
    ? await Promise.all(
        entries.map(async (e) => `${patient ? '' : `Patient ${await name(e.patient)}: `}${e.resourceTypes === '*' ? 'all record types' : e.resourceTypes.join(', ')} from ${await providersText(e)}; basis: ${e.basis}; purpose: ${e.purpose}${e.expiresAt ? `; expires ${new Date(e.expiresAt * 1000).toISOString()}` : ''}`),
      )
    : ['No on-chain grant covers this request: the app will see no records.'];
  return consentPage({
    appName: client.name,
    clientId: client.clientId,
    action,
    user,
    ...(patient ? { patientLabel: patient === user ? 'yourself' : await name(patient) } : {}),
    rows,
    grantsSummary,
  });
}

const CONTEXT_LABELS: Record<string, string> = {
  openid: 'Know who you are (OpenID Connect)',
  fhirUser: 'Know your FHIR user record',
  profile: 'Know your profile (legacy)',
  launch: 'Receive the launch context from the EHR',
  'launch/patient': 'Know which patient is in context',
  'launch/encounter': 'Know which encounter is in context',
  offline_access: 'Keep access while you are away (refresh tokens)',
  online_access: 'Keep access while you are signed in',
};
const LEVEL_WORDS: Record<string, string> = { patient: 'This patient’s records', user: 'Records you may see', system: 'System access' };
const INTERACTION_WORDS: Record<string, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

function flat(input: unknown): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries((input ?? {}) as Record<string, unknown>)) out[k] = Array.isArray(v) ? String(v[0]) : v === undefined ? undefined : String(v);
  return out;
}

function isForm(req: FastifyRequest): boolean {
  return (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

export function cookie(req: FastifyRequest, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/** Only local paths under /auth/ may be a post-login destination (no open redirects). */
function safeNext(next: string | undefined): string {
  return next && /^\/auth\/[A-Za-z0-9_\-/?=&%.]*$/.test(next) && !next.startsWith('//') ? next : '/auth/manage';
}

export function withQuery(base: string, params: Params): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.toString();
}

/** Base URLs compare without trailing slash, scheme/host case or default port. */
export function normaliseBase(value: string): string {
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`.toLowerCase();
  } catch {
    return '';
  }
}
