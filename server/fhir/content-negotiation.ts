/**
 * FHIR content negotiation: JSON only (`application/fhir+json`, `application/json`, `_format`
 * json aliases). An Accept header or `_format` that excludes JSON gets 406; request bodies
 * other than form-encoded searches get 415 (see the POST _search route).
 */
import { FhirHttpError } from './outcomes.ts';

const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);
const JSON_RANGES = new Set(['*/*', 'application/*', 'application/json', 'application/fhir+json', 'application/json+fhir']);

function notAcceptable(what: string): FhirHttpError {
  return new FhirHttpError(406, [{ severity: 'error', code: 'not-supported', details: { text: `${what}; this server answers application/fhir+json only` } }]);
}

/** Throws 406 unless the client accepts JSON. */
export function negotiateJson(format: unknown, accept: string | undefined): void {
  const given = Array.isArray(format) ? format[0] : format;
  if (given !== undefined && given !== '') {
    const value = String(given).split(';')[0]?.trim().toLowerCase() ?? '';
    if (!JSON_FORMATS.has(value)) throw notAcceptable(`_format=${value.slice(0, 40)} is not supported`);
    return;
  }
  if (!accept || accept.trim() === '') return;
  const ranges = accept.split(',').map((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    const q = params.find((p) => p.startsWith('q='));
    return { type: type ?? '', q: q ? Number(q.slice(2)) : 1 };
  });
  if (!ranges.some((r) => JSON_RANGES.has(r.type) && r.q > 0)) throw notAcceptable(`Accept: ${accept.slice(0, 80)} is not supported`);
}

export function isFormEncoded(contentType: string | undefined): boolean {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded';
}
