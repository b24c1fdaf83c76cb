/**
 * An executable FHIR R4 REST conformance suite that runs against any server URL: capabilities,
 * content negotiation, read, search paging, result parameters and error OperationOutcomes, as
 * the R4 http.html and search.html pages state them. Checks are tagged SHALL or SHOULD; a
 * failed SHALL fails the run.
 *
 *   node conformance/fhir-rest-suite.ts http://localhost:8080/fhir [--token T] [--type MedicationRequest]
 */

export interface SuiteOptions {
  /** FHIR base, e.g. `http://localhost:8080/fhir`. */
  readonly baseUrl: string;
  /** Bearer token for protected servers. */
  readonly token?: string;
  /** Resource type to exercise; defaults to the first type the CapabilityStatement says is searchable. */
  readonly resourceType?: string;
}

export interface CheckResult {
  readonly name: string;
  readonly level: 'SHALL' | 'SHOULD';
  readonly ok: boolean;
  readonly detail?: string;
}

type Json = Record<string, any>;

class CheckFailed extends Error {}

function expect(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

export async function runFhirRestSuite(options: SuiteOptions): Promise<CheckResult[]> {
  const base = options.baseUrl.replace(/\/$/, '');
  const auth: Record<string, string> = options.token ? { authorization: `Bearer ${options.token}` } : {};
  const results: CheckResult[] = [];
  const call = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(path.startsWith('http') ? path : `${base}${path}`, { ...init, headers: { accept: 'application/fhir+json', ...auth, ...(init.headers as Record<string, string> | undefined) } });
    const text = await res.text();
    let body: Json | undefined;
    try {
      body = text ? (JSON.parse(text) as Json) : undefined;
    } catch {
      body = undefined;
    }
    return { res, body };
  };
  const check = async (name: string, level: 'SHALL' | 'SHOULD', fn: () => Promise<void>) => {
    try {
      await fn();
      results.push({ name, level, ok: true });
    } catch (err) {
      results.push({ name, level, ok: false, detail: err instanceof CheckFailed ? err.message : `error: ${(err as Error).message}` });
    }
  };
  const isOutcome = (body: Json | undefined) => body?.resourceType === 'OperationOutcome' && Array.isArray(body.issue) && body.issue.length > 0;

  let type = options.resourceType;
  let firstId: string | undefined;

  await check('GET [base]/metadata returns a CapabilityStatement for FHIR 4.0', 'SHALL', async () => {
    const { res, body } = await call('/metadata');
    expect(res.status === 200, `status ${res.status}`);
    expect(body?.resourceType === 'CapabilityStatement', 'not a CapabilityStatement');
    expect(/^4\.0\./.test(String(body?.fhirVersion)), `fhirVersion ${body?.fhirVersion}`);
    const resources = (body?.rest?.[0]?.resource ?? []) as Json[];
    expect(resources.length > 0, 'rest[0].resource is empty');
    type ??= resources.find((r) => (r.interaction ?? []).some((i: Json) => i.code === 'search-type') && r.type !== 'Patient')?.type as string | undefined;
    expect(type, 'no searchable resource type declared');
  });
  if (!type) return results;

  await check('responses use the FHIR JSON mime type', 'SHALL', async () => {
    const { res } = await call(`/${type}?_count=1`);
    expect(/^application\/(fhir\+)?json/.test(res.headers.get('content-type') ?? ''), `content-type ${res.headers.get('content-type')}`);
  });

  await check('an Accept the server cannot produce gets 406 (or that format)', 'SHOULD', async () => {
    const { res, body } = await call('/metadata', { headers: { accept: 'application/x-unknown-format' } });
    expect(res.status === 406 || res.status === 200, `status ${res.status}`);
    if (res.status === 406) expect(isOutcome(body), '406 without OperationOutcome');
  });

  await check('search returns a searchset Bundle with a self link and typed entries', 'SHALL', async () => {
    const { res, body } = await call(`/${type}?_count=2`);
    expect(res.status === 200, `status ${res.status}`);
    expect(body?.resourceType === 'Bundle' && body.type === 'searchset', 'not a searchset Bundle');
    expect((body.link ?? []).some((l: Json) => l.relation === 'self'), 'no self link');
    const matches = (body.entry ?? []).filter((e: Json) => (e.search?.mode ?? 'match') === 'match');
    for (const e of matches) {
      expect(e.resource?.resourceType === type, `entry of type ${e.resource?.resourceType}`);
      expect(typeof e.fullUrl === 'string' && e.fullUrl.endsWith(`/${type}/${e.resource.id}`), `fullUrl ${e.fullUrl}`);
    }
    for (const e of (body.entry ?? []).filter((x: Json) => x.search?.mode === 'outcome')) {
      expect(!(e.resource.issue ?? []).some((i: Json) => i.severity === 'error' || i.severity === 'fatal'), 'outcome entry with error severity');
    }
    firstId = matches[0]?.resource?.id;
  });

  await check('paging with next links visits distinct entries', 'SHALL', async () => {
    let url: string | undefined = `/${type}?_count=1`;
    const seen = new Set<string>();
    for (let page = 0; url && page < 4; page++) {
      const { res, body } = await call(url);
      expect(res.status === 200, `page ${page + 1}: status ${res.status}`);
      for (const e of (body?.entry ?? []).filter((x: Json) => (x.search?.mode ?? 'match') === 'match')) {
        expect(!seen.has(e.resource.id), `${e.resource.id} returned twice`);
        seen.add(e.resource.id);
      }
      url = (body?.link ?? []).find((l: Json) => l.relation === 'next')?.url;
    }
  });

  await check('read returns the resource with the requested id', 'SHALL', async () => {
    expect(firstId, 'no resource found to read');
    const { res, body } = await call(`/${type}/${firstId}`);
    expect(res.status === 200, `status ${res.status}`);
    expect(body?.id === firstId && body.resourceType === type, 'id or type differs');
  });

  await check('read carries ETag and Last-Modified', 'SHOULD', async () => {
    expect(firstId, 'no resource found to read');
    const { res } = await call(`/${type}/${firstId}`);
    expect(res.headers.get('etag'), 'no ETag');
    expect(res.headers.get('last-modified'), 'no Last-Modified');
  });

  await check('an unknown id is 404 with an OperationOutcome', 'SHALL', async () => {
    const { res, body } = await call(`/${type}/does-not-exist-0000`);
    expect(res.status === 404 || res.status === 410, `status ${res.status}`);
    expect(isOutcome(body), 'no OperationOutcome');
  });

  await check('an unknown resource type is a 4xx with an OperationOutcome', 'SHALL', async () => {
    const { res, body } = await call('/NoSuchResourceType');
    expect(res.status >= 400 && res.status < 500, `status ${res.status}`);
    expect(isOutcome(body), 'no OperationOutcome');
  });

  await check('unknown search parameters are ignored and left out of the self link', 'SHALL', async () => {
    const { res, body } = await call(`/${type}?conformance-unknown-param=1`);
    expect(res.status === 200, `status ${res.status}`);
    const self = (body?.link ?? []).find((l: Json) => l.relation === 'self')?.url ?? '';
    expect(!self.includes('conformance-unknown-param'), 'the self link claims the unknown parameter');
  });

  await check('Prefer: handling=strict refuses unknown parameters with 400', 'SHOULD', async () => {
    const { res, body } = await call(`/${type}?conformance-unknown-param=1`, { headers: { prefer: 'handling=strict' } });
    expect(res.status === 400, `status ${res.status}`);
    expect(isOutcome(body), 'no OperationOutcome');
  });

  await check('an invalid _count is a 400 with an OperationOutcome', 'SHOULD', async () => {
    const { res, body } = await call(`/${type}?_count=not-a-number`);
    expect(res.status === 400, `status ${res.status}`);
    expect(isOutcome(body), 'no OperationOutcome');
  });

  await check('_summary=count returns a total and no resources', 'SHOULD', async () => {
    const { res, body } = await call(`/${type}?_summary=count`);
    expect(res.status === 200, `status ${res.status}`);
    expect(typeof body?.total === 'number', 'no total');
    expect(!(body?.entry ?? []).some((e: Json) => e.search?.mode === 'match'), 'resources returned');
  });

  await check('_elements subsets and tags SUBSETTED', 'SHOULD', async () => {
    const { body } = await call(`/${type}?_count=1&_elements=id`);
    const resource = (body?.entry ?? []).find((e: Json) => (e.search?.mode ?? 'match') === 'match')?.resource;
    expect(resource, 'no resource returned');
    expect((resource.meta?.tag ?? []).some((t: Json) => t.code === 'SUBSETTED'), 'no SUBSETTED tag');
  });

  await check('POST [type]/_search with a form body answers like GET', 'SHALL', async () => {
    const get = await call(`/${type}?_count=3`);
    const post = await call(`/${type}/_search`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '_count=3' });
    expect(post.res.status === 200, `status ${post.res.status}`);
    const ids = (b: Json | undefined) => (b?.entry ?? []).filter((e: Json) => (e.search?.mode ?? 'match') === 'match').map((e: Json) => e.resource.id).join(',');
    expect(ids(get.body) === ids(post.body), 'different results');
  });

  await check('CORS preflight is answered for browser apps', 'SHOULD', async () => {
    const res = await fetch(`${base}/${type}`, { method: 'OPTIONS', headers: { origin: 'https://conformance.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    expect(res.headers.get('access-control-allow-origin'), 'no Access-Control-Allow-Origin');
  });

  return results;
}

export function formatResults(results: readonly CheckResult[]): string {
  const lines = results.map((r) => `${r.ok ? 'ok    ' : 'FAIL  '} ${r.level.padEnd(6)} ${r.name}${r.detail ? ` — ${r.detail}` : ''}`);
  const failedShall = results.filter((r) => !r.ok && r.level === 'SHALL').length;
  const failedShould = results.filter((r) => !r.ok && r.level === 'SHOULD').length;
  lines.push(`${results.filter((r) => r.ok).length} passed, ${failedShall} SHALL failed, ${failedShould} SHOULD failed`);
  return lines.join('\n');
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const baseUrl = args.find((a) => /^https?:\/\//.test(a));
  if (!baseUrl) {
    console.error('usage: node conformance/fhir-rest-suite.ts <fhir base URL> [--token <bearer>] [--type <ResourceType>]');
    process.exit(2);
  }
  const results = await runFhirRestSuite({ baseUrl, token: flag('token'), resourceType: flag('type') });
  console.log(formatResults(results));
  process.exitCode = results.some((r) => !r.ok && r.level === 'SHALL') ? 1 : 0;
}
