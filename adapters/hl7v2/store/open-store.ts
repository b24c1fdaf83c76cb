/** Opens the configured HL7v2 store back end. */
import type { StoreOptions } from '../hl7v2-source-options.ts';
import type { Hl7Store } from './hl7-store.ts';
import { openPostgresHl7Store } from './postgres-store.ts';
import { SqliteHl7Store } from './sqlite-store.ts';

export async function openHl7Store(options: StoreOptions): Promise<Hl7Store> {
  if (options.kind === 'postgres') return openPostgresHl7Store({ connectionString: options.connectionString, schema: options.schema });
  return new SqliteHl7Store(options.file);
}
