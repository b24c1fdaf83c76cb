/**
 * A stand-alone HL7v2 source in its own process, for crash tests: `node listener-process.ts
 * <sqlite file> <port>` prints `ready` once it listens and runs until killed.
 */
import Fastify from 'fastify';
import { Hl7v2Source } from '../../../adapters/hl7v2/hl7v2-adapter.ts';

const [file, port] = process.argv.slice(2);
const source = await Hl7v2Source.open(
  { id: 'hl7-crash', kind: 'hl7v2', provider: '0x0000000000000000000000000000000000000001', name: 'Crash test', options: { mllp: { port: Number(port) }, store: { kind: 'sqlite', file } } },
  { log: Fastify({ logger: false }).log, dataDir: '.' },
);
process.stdout.write('ready\n');
process.once('SIGTERM', () => void source.close().then(() => process.exit(0)));
