/**
 * The authorization workers alone (follower, reconcile, snapshot rebuilds, audit writer) in a
 * process of their own, as a production deployment runs them beside stateless servers.
 * Used by bench/authz-overhead.ts `--workers-elsewhere`; prints `ready` once started.
 *
 * Run: `node bench/authz-workers.ts '<json AuthorizationOptions without metrics/log>'`
 */
import { startAuthorization, type AuthorizationOptions } from '../server/authz/authorization.ts';

const options = JSON.parse(process.argv[2] ?? '{}') as AuthorizationOptions;
const authz = await startAuthorization({ ...options, workers: true });
console.log('ready');
const stop = () => void authz.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
