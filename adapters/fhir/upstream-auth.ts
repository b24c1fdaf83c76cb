/**
 * How the adapter authenticates to an upstream: nothing, a static bearer token, HTTP basic
 * (OpenMRS FHIR2, test systems), or SMART Backend Services (`backend-services-client.ts`).
 */
export interface UpstreamAuth {
  /** The `Authorization` header value for the next request, or `undefined` for none. */
  authorization(signal: AbortSignal): Promise<string | undefined>;
  /**
   * The upstream answered 401 to a request sent with `authorization`. Returns whether asking
   * again may help (a cached token was dropped and a fresh one will be fetched).
   */
  rejected(authorization: string | undefined): boolean;
}

export const noAuth: UpstreamAuth = {
  authorization: async () => undefined,
  rejected: () => false,
};

export function staticBearerAuth(token: string): UpstreamAuth {
  const header = `Bearer ${token}`;
  return { authorization: async () => header, rejected: () => false };
}

export function basicAuth(username: string, password: string): UpstreamAuth {
  if (username.includes(':')) throw new Error('basic auth: the username must not contain ":"');
  const header = `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
  return { authorization: async () => header, rejected: () => false };
}
