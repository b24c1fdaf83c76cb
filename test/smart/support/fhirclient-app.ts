/**
 * The official `fhirclient` library, unchanged, run headlessly in Node the way its own tests do:
 * a fake IncomingMessage/ServerResponse per step and one in-memory storage per app session.
 */
import smart from 'fhirclient';
import type { IncomingMessage, ServerResponse } from 'node:http';

type AuthorizeParams = Parameters<ReturnType<typeof smart>['authorize']>[0];

export interface FhirclientApp {
  /** The authorize URL the app would redirect to, launched at `launchPath` (e.g. `/launch?iss=…&launch=…`). */
  authorize(launchPath: string, params: AuthorizeParams): Promise<string>;
  /** The ready client once the authorization server redirected back to `redirect`. */
  ready(redirect: URL): ReturnType<ReturnType<typeof smart>['ready']>;
}

/** One app session of an app served at `host`. */
export function fhirclientApp(host = 'app.test'): FhirclientApp {
  const store = new Map<string, unknown>();
  const storage = {
    get: async (k: string) => store.get(k),
    set: async (k: string, v: unknown) => (store.set(k, v), v),
    unset: async (k: string) => store.delete(k),
  };
  const request = (url: string) => ({ url, headers: { host }, socket: {} }) as unknown as IncomingMessage;
  const response = () => ({ writeHead() {}, end() {} }) as unknown as ServerResponse;
  return {
    async authorize(launchPath, params) {
      return (await smart(request(launchPath), response(), storage).authorize({ ...params, noRedirect: true })) as string;
    },
    ready: (redirect) => smart(request(redirect.pathname + redirect.search), response(), storage).ready(),
  };
}
