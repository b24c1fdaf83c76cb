/**
 * The application factory: a Fastify 5 instance composed of encapsulated plugins.
 *
 *   request ids + access-context decoration + OperationOutcome errors   (root, not encapsulated)
 *   CORS                                                                   (root)
 *   [SMART authorization server + its onRequest hook setting request.accessContext]
 *   /healthz, /readyz                                                      (health plugin)
 *   /fhir                                                                  (FHIR plugin)
 *   [web apps]
 *
 * `buildApp` creates no processes and opens no sources: the caller (server/main.ts, tests)
 * owns the sources and closes them after `app.close()`.
 */
import { readFileSync } from 'node:fs';
import cors from '@fastify/cors';
import Fastify from 'fastify';
import type { FastifyBaseLogger, FastifyInstance, FastifyServerOptions } from 'fastify';
import type { CapabilityContributor } from '../conformance/capability-statement.ts';
import { openAccessPolicy } from './access/access-policy.ts';
import type { AccessPolicy } from './access/access-policy.ts';
import type { AppConfig } from './config/config.ts';
import { fhirPlugin } from './fhir/fhir-plugin.ts';
import { createFhirService } from './fhir/fhir-service.ts';
import type { DigestReverseMap } from './fhir/ids.ts';
import type { PatientLinks } from './fhir/patient-links.ts';
import { SourceDirectory } from './fhir/source-directory.ts';
import type { FederatedSource } from './fhir/source-directory.ts';
import { errorHandling, errorOutcome, sendOutcome } from './plugins/errors.ts';
import { healthRoutes } from './plugins/health.ts';
import type { ReadinessCheck } from './plugins/health.ts';
import { requestContext, requestId } from './plugins/request-context.ts';
import { smartCapabilityContributor, smartOnFhir } from '../smart-on-fhir/plugin.ts';
import type { SmartAuthOptions } from '../smart-on-fhir/plugin.ts';

export interface AppDeps {
  readonly sources: readonly FederatedSource[];
  readonly patientLinks: PatientLinks;
  /** Defaults to `openAccessPolicy` (everything allowed) until the chain-backed policy is given. */
  readonly accessPolicy?: AccessPolicy;
  readonly capabilityContributors?: readonly CapabilityContributor[];
  /** The SMART authorization server (smart-on-fhir/): discovery, authorize, token, bearer hook on /fhir. */
  readonly smart?: SmartAuthOptions;
  readonly readinessChecks?: readonly ReadinessCheck[];
  /** Where digested resource ids are kept (`RedisDigestMap` with Redis); in-process when absent. */
  readonly idDigests?: DigestReverseMap;
  /** A logger instance to use instead of creating one from `config.logLevel` (tests). */
  readonly logger?: FastifyBaseLogger;
}

export type AppOptions = Pick<AppConfig, 'publicUrl' | 'cursorSecret' | 'sourceTimeoutMs' | 'bodyLimit' | 'logLevel'>;

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

/** Logs carry method, path and status, never query strings (they can hold names or MRNs) or tokens. */
function loggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    redact: ['req.headers.authorization', 'req.headers.cookie'],
    serializers: {
      req: (req: { method: string; url: string }) => ({ method: req.method, path: req.url.split('?')[0] }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  };
}

export async function buildApp(config: AppOptions, deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: loggerOptions(config.logLevel) }),
    genReqId: requestId,
    bodyLimit: config.bodyLimit,
    // Fastify 5's default router options are fine; trailing slashes are accepted for curl users.
    routerOptions: { ignoreTrailingSlash: true },
    // Errors raised before routing (malformed URL encoding, bad content type header) as OperationOutcomes too.
    frameworkErrors: (error, _request, reply) => {
      const status = (error as { statusCode?: number }).statusCode ?? 400;
      void sendOutcome(reply, status >= 400 && status < 500 ? status : 400, errorOutcome(400, error.message));
    },
  });
  await app.register(requestContext);
  await app.register(errorHandling);
  await app.register(cors, {
    // Any origin may call the API with a bearer token; cookies are never honoured cross-origin
    // (the SMART login session cookie is for its own pages only).
    origin: true,
    credentials: false,
    exposedHeaders: ['etag', 'last-modified', 'location', 'x-request-id'],
    allowedHeaders: ['authorization', 'content-type', 'accept', 'prefer', 'if-none-match', 'x-request-id'],
  });

  const sources = new SourceDirectory(deps.sources);
  const fhir = createFhirService({
    sources,
    links: deps.patientLinks,
    policy: deps.accessPolicy ?? openAccessPolicy,
    // Random per process when absent (cursors and digested ids then die with it).
    secret: config.cursorSecret ?? cryptoRandomSecret(),
    digests: deps.idDigests,
    sourceTimeoutMs: config.sourceTimeoutMs,
  });

  // Authorization (SMART) registers here: its onRequest hook sets request.accessContext for
  // every route below, and it passes its CapabilityStatement contribution via deps. It reads
  // through the FHIR service directly (an EHR launch's encounter).
  if (deps.smart) await app.register(smartOnFhir, { ...deps.smart, fhir });

  await app.register(healthRoutes, { sources, checks: deps.readinessChecks });
  await app.register(fhirPlugin, {
    prefix: '/fhir',
    service: fhir,
    publicBaseUrl: config.publicUrl ? `${config.publicUrl}/fhir` : undefined,
    software: { name: pkg.name, version: pkg.version },
    capabilityContributors: deps.smart ? [...(deps.capabilityContributors ?? []), smartCapabilityContributor(deps.smart)] : deps.capabilityContributors,
  });
  return app;
}

function cryptoRandomSecret(): Buffer {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32)));
}
