/**
 * `GET <prefix>/AuditEvent?patient=<address>`: who read what of one patient, readable by that
 * patient and by the patient's healthcare proxies only. Mount it in the FHIR prefix; the static
 * path wins over the FHIR plugin's `/:type` route.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Bundle, OperationOutcome, OperationOutcomeIssue } from '@medplum/fhirtypes';
import type { AccessContext } from '../access/access-context.ts';
import type { SnapshotProvider } from '../authz/chain-access-policy.ts';
import type { AuditTrail } from './audit-trail.ts';
import type { SyncFreshness } from '../authz/sync-freshness.ts';

export interface AuditRoutesOptions {
  readonly trail: AuditTrail;
  readonly snapshots: SnapshotProvider;
  readonly freshness?: SyncFreshness;
  /** The verified access context of a request (filled by the SMART layer). */
  readonly contextOf: (request: FastifyRequest) => AccessContext | undefined;
}

const ADDRESS = /^0x[0-9a-f]{40}$/;

function outcome(severity: 'error' | 'fatal', code: OperationOutcomeIssue['code'], text: string): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics: text }] };
}

export async function auditRoutes(app: FastifyInstance, options: AuditRoutesOptions): Promise<void> {
  app.get<{ Querystring: { patient?: string; _count?: number } }>(
    '/AuditEvent',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { patient: { type: 'string', maxLength: 64 }, _count: { type: 'integer', minimum: 1, maximum: 1000 } },
        },
      },
    },
    async (request, reply) => {
      reply.type('application/fhir+json');
      const raw = (request.query.patient ?? '').replace(/^Patient\//, '').toLowerCase();
      if (!ADDRESS.test(raw)) {
        return reply.code(400).send(outcome('error', 'required', 'AuditEvent search needs patient=<patient address>'));
      }
      const context = options.contextOf(request);
      if (!context) return reply.code(401).send(outcome('error', 'login', 'authentication is required'));
      const scoped = context.scopes.some((sc) => (sc.resourceType === '*' || sc.resourceType === 'AuditEvent') && (sc.interactions.has('s') || sc.interactions.has('r')));
      if (!scoped) return reply.code(403).send(outcome('error', 'forbidden', "the token's scopes do not allow reading AuditEvent"));
      const verdict = options.freshness?.verdict();
      if (verdict && !verdict.fresh) return reply.code(503).send(outcome('fatal', 'transient', verdict.detail));
      const snapshot = await options.snapshots.get(context.subject);
      const now = Math.floor(Date.now() / 1000);
      const own = snapshot.entries.some(
        (e) => e.patient === raw && (e.basis === 'self' || e.basis === 'delegation') && (e.expiresAt === 0 || e.expiresAt > now),
      );
      if (!own) return reply.code(403).send(outcome('error', 'forbidden', "only the patient and the patient's proxies read its audit trail"));
      const events = await options.trail.search(raw, { count: request.query._count ?? 50 });
      const bundle: Bundle = {
        resourceType: 'Bundle',
        type: 'searchset',
        total: events.length,
        entry: events.map((resource) => ({ fullUrl: `AuditEvent/${resource.id}`, resource, search: { mode: 'match' } })),
      };
      return bundle;
    },
  );
}
