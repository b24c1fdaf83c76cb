/**
 * Builds the server's CapabilityStatement from what is registered: the sources' declared
 * types, search parameters and includes (via the support table), the interactions the FHIR
 * layer implements, and contributions from other plugins (the SMART server adds the
 * oauth-uris security extension this way). Never a static file that could drift.
 */
import type { CapabilityStatement, CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { searchParamSupport } from './search-param-support.ts';
import type { SourceSupport } from './search-param-support.ts';

/**
 * Receives the generated statement and returns it amended (e.g. `rest[0].security`): a function
 * of the statement alone, as the FHIR layer caches its result per contributor.
 */
export type CapabilityContributor = (statement: CapabilityStatement) => CapabilityStatement;

export interface CapabilityInput {
  /** Absolute FHIR base URL. */
  readonly base: string;
  readonly sources: readonly SourceSupport[];
  readonly software: { readonly name: string; readonly version: string };
  /** The largest `_count` honoured. */
  readonly maxCount: number;
  readonly contributors?: readonly CapabilityContributor[];
  /** Fixed publication date (tests); defaults to the process start. */
  readonly date?: string;
}

const startedAt = new Date().toISOString();

const RESULT_PARAMS = [
  ['_count', 'number', 'Page size; default 20, values above the maximum are lowered to it'],
  ['_sort', 'string', 'Comma-separated parameters, `-` for descending; without it results come in source order'],
  ['_include', 'special', 'Type:parameter[:Target], one level'],
  ['_revinclude', 'special', 'Type:parameter, one level'],
  ['_summary', 'token', 'true | count | data | text | false'],
  ['_elements', 'string', 'Top-level elements to return (mandatory elements are always kept)'],
  ['_total', 'token', 'none | estimate | accurate'],
] as const;

export function buildCapabilityStatement(input: CapabilityInput): CapabilityStatement {
  const support = searchParamSupport(input.sources);
  const resources: CapabilityStatementRestResource[] = support.map((r) => {
    const resource: CapabilityStatementRestResource = {
      type: r.resourceType as CapabilityStatementRestResource['type'],
      interaction: [{ code: 'read' }, { code: 'search-type' }],
      versioning: 'no-version',
      readHistory: false,
      updateCreate: false,
      conditionalCreate: false,
      conditionalRead: 'not-supported',
      conditionalUpdate: false,
      conditionalDelete: 'not-supported',
      searchInclude: r.includes.length > 0 ? [...r.includes] : undefined,
      searchRevInclude: r.revIncludes.length > 0 ? [...r.revIncludes] : undefined,
      // FHIR forbids empty arrays: a type searched by no parameter has no `searchParam`.
      searchParam: r.params.length > 0
        ? r.params.map((p) => ({
          name: p.code,
          definition: p.definition,
          type: p.type as 'string',
          documentation: `Evaluated by: ${p.sources.join(', ')}`,
        }))
        : undefined,
    };
    if (r.resourceType === 'Patient') {
      resource.operation = [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }];
      resource.documentation = 'Patient ids are patient keys (0x addresses); each merged Patient links (seealso) to every source\'s own Patient.';
    }
    return resource;
  });
  let statement: CapabilityStatement = {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: input.date ?? startedAt,
    kind: 'instance',
    publisher: 'MedRec-FHIR',
    software: { name: input.software.name, version: input.software.version },
    implementation: { description: 'MedRec-FHIR federated FHIR R4 server', url: input.base },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        documentation: `Searches fan out to every source holding matching records; a failed source becomes a warning entry (search.mode = outcome). _count is capped at ${input.maxCount}.`,
        ...(resources.length > 0 ? { resource: resources } : {}),
        searchParam: RESULT_PARAMS.map(([name, type, documentation]) => ({ name, type, documentation })),
      },
    ],
  };
  for (const contribute of input.contributors ?? []) statement = contribute(statement);
  return statement;
}
