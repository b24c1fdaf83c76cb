/**
 * Signing in as a SMART on FHIR app: the web apps are public clients of our own authorization
 * server (authorization code + PKCE S256), so the login (Sign-In with Ethereum) is the same one
 * every SMART app sees, and the token they get is the one our FHIR API and BFF routes accept.
 */

export interface SmartSession {
  readonly accessToken: string;
  readonly expiresAt: number;
  readonly scope: string;
  /** The signed-in address (from `patient` or the id_token's `sub`). */
  readonly subject: string;
  readonly patient?: string;
  /** The signed-in user's FHIR resource (`Practitioner/0x…`, `Patient/0x…`), when the server says. */
  readonly fhirUser?: string;
}

/**
 * Signing out: revokes the access token (RFC 7009, public client) and ends the authorization
 * server's sign-in session, so the next sign-in asks who you are again. Best effort: a failure
 * still signs this app out.
 */
export async function endSession(fhirBase: string, clientId: string, accessToken: string): Promise<void> {
  try {
    const config = (await (await fetch(`${fhirBase}/.well-known/smart-configuration`)).json()) as { revocation_endpoint?: string; authorization_endpoint?: string };
    if (config.revocation_endpoint) {
      await fetch(config.revocation_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: accessToken, token_type_hint: 'access_token', client_id: clientId }),
      });
    }
    // The sign-in session lives beside the authorize endpoint (`/auth/logout` on this server).
    if (config.authorization_endpoint) {
      await fetch(new URL('logout', config.authorization_endpoint), { method: 'POST', credentials: 'include', redirect: 'manual' });
    }
  } catch {
    // Signed out here regardless; the token expires on its own.
  }
}

interface PendingLogin {
  readonly state: string;
  readonly verifier: string;
  readonly redirectUri: string;
  readonly tokenEndpoint: string;
  readonly clientId: string;
}

const PENDING = 'medrec.smart.pending';

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function randomToken(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

async function challengeOf(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return base64url(new Uint8Array(digest));
}

function decodeJwtPayload(jwt: string): Record<string, unknown> {
  const part = jwt.split('.')[1] ?? '';
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  return JSON.parse(json) as Record<string, unknown>;
}

export interface StartLogin {
  readonly fhirBase: string;
  readonly clientId: string;
  readonly scope: string;
  readonly redirectUri: string;
  /** Address to pre-select on the login page (demo one-click sign-in). */
  readonly loginHint?: string;
  /** EHR launch: the `launch` id the EHR passed to the app's launch URL. */
  readonly launch?: string;
}

/** Sends the browser to the authorization endpoint; resolves never (the page navigates away). */
export async function startLogin(options: StartLogin): Promise<void> {
  const discovery = await fetch(`${options.fhirBase}/.well-known/smart-configuration`, { headers: { accept: 'application/json' } });
  if (!discovery.ok) throw new Error('The sign-in service is not available on this server.');
  const config = (await discovery.json()) as { authorization_endpoint: string; token_endpoint: string };
  const verifier = randomToken();
  const pending: PendingLogin = {
    state: randomToken(),
    verifier,
    redirectUri: options.redirectUri,
    tokenEndpoint: config.token_endpoint,
    clientId: options.clientId,
  };
  sessionStorage.setItem(PENDING, JSON.stringify(pending));
  const url = new URL(config.authorization_endpoint);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope,
    state: pending.state,
    aud: options.fhirBase,
    code_challenge: await challengeOf(verifier),
    code_challenge_method: 'S256',
  };
  if (options.loginHint) params.login_hint = options.loginHint;
  if (options.launch) params.launch = options.launch;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  location.assign(url.toString());
}

/** On the redirect back: exchanges the code for a token. Returns undefined when not a callback. */
export async function completeLogin(): Promise<SmartSession | undefined> {
  const query = new URLSearchParams(location.search);
  const code = query.get('code');
  const error = query.get('error');
  if (!code && !error) return undefined;
  const pending = JSON.parse(sessionStorage.getItem(PENDING) ?? 'null') as PendingLogin | null;
  sessionStorage.removeItem(PENDING);
  history.replaceState(null, '', location.pathname);
  if (error) throw new Error(query.get('error_description') ?? `Sign-in was not completed (${error}).`);
  if (!pending || pending.state !== query.get('state')) throw new Error('This sign-in link is stale or was not started here. Please sign in again.');
  const response = await fetch(pending.tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: code ?? '',
      redirect_uri: pending.redirectUri,
      client_id: pending.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(String(body.error_description ?? body.error ?? 'The sign-in could not be completed.'));
  const accessToken = String(body.access_token);
  const claims = typeof body.id_token === 'string' ? decodeJwtPayload(body.id_token) : decodeJwtPayload(accessToken);
  const fhirUser = typeof claims.fhirUser === 'string' ? claims.fhirUser.split('/').pop() : undefined;
  const subject = String(body.patient ?? fhirUser ?? claims.sub ?? '').toLowerCase();
  return {
    accessToken,
    expiresAt: Date.now() + Number(body.expires_in ?? 3600) * 1000,
    scope: String(body.scope ?? ''),
    subject,
    patient: typeof body.patient === 'string' ? body.patient : undefined,
    ...(typeof claims.fhirUser === 'string' ? { fhirUser: claims.fhirUser } : {}),
  };
}

export function saveSession(key: string, session: SmartSession | undefined): void {
  if (session) sessionStorage.setItem(key, JSON.stringify(session));
  else sessionStorage.removeItem(key);
}

export function loadSession(key: string): SmartSession | undefined {
  const session = JSON.parse(sessionStorage.getItem(key) ?? 'null') as SmartSession | null;
  if (!session || session.expiresAt < Date.now() + 10_000) return undefined;
  return session;
}
