/** Opens the configured HL7v2 store back end. */
import type { StoreOptions } from '../hl7v2-source-options.ts';
import type { Hl7Store } from './hl7-store.ts';
import { openPostgresHl7Store } from './postgres-store.ts';
import type { KeySchemeRebuild } from './record-key-scheme.ts';
import { SqliteHl7Store } from './sqlite-store.ts';

/** Opens the store; one filed under an older record key scheme is rebuilt first, and `onRebuild` told. */
export async function openHl7Store(options: StoreOptions, onRebuild?: (rebuild: KeySchemeRebuild) => void): Promise<Hl7Store> {
  const store = options.kind === 'postgres'
    ? await openPostgresHl7Store({ connectionString: options.connectionString, schema: options.schema })
    : new SqliteHl7Store(options.file);
  if (store.keySchemeRebuild) onRebuild?.(store.keySchemeRebuild);
  return store;
}
