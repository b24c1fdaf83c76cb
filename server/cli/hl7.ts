/**
 * `medrec hl7 dead-letters list | show | replay`: the HL7v2 feed's dead letters, read from the
 * source's store (SQLite file or PostgreSQL) as configured in the sources file (MEDREC_SOURCES,
 * MEDREC_DATA_DIR), or the embedded demo's `hl7-hospital` source when there is no sources file.
 * Runs beside a live server: replayed messages are picked up by its conversion worker.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { listDeadLetters, replayDeadLetter, type DeadLetterSummary, type ReplayResult } from '../../adapters/hl7v2/dead-letters.ts';
import { HL7_DEMO_SOURCE_ID, hl7DemoSourceOptions } from '../../adapters/hl7v2/demo-feed-source.ts';
import { parseHl7v2Options, type Hl7v2SourceOptions } from '../../adapters/hl7v2/hl7v2-source-options.ts';
import type { Hl7Store } from '../../adapters/hl7v2/store/hl7-store.ts';
import { openHl7Store } from '../../adapters/hl7v2/store/open-store.ts';
import type { SourceConfig } from '../../adapters/source-config.ts';
import { readSourcesFile } from '../config/sources-file.ts';
import { CliError, type CliContext, type CliGroup } from './cli-context.ts';

interface StoreFlags {
  readonly source?: string;
  readonly sources?: string;
  readonly dataDir?: string;
}

function storeOptions(command: Command): Command {
  return command
    .option('--source <id>', 'the hl7v2 source (default: the only one configured)')
    .option('--sources <file>', 'sources file (env MEDREC_SOURCES; default: the embedded demo sources)')
    .option('--data-dir <dir>', 'data directory of file-backed stores (env MEDREC_DATA_DIR)');
}

/** The hl7v2 source's options, from the sources file or the embedded demo. */
export async function resolveHl7Source(flags: StoreFlags, env: NodeJS.ProcessEnv = process.env): Promise<{ id: string; options: Hl7v2SourceOptions }> {
  const file = flags.sources ?? env.MEDREC_SOURCES;
  const dataDir = resolve(flags.dataDir ?? env.MEDREC_DATA_DIR ?? '.medrec-data');
  const configured: SourceConfig[] = file
    ? (await readSourcesFile(resolve(file)).catch((error: unknown) => {
        throw new CliError(error instanceof Error ? error.message : String(error));
      })).filter((s) => s.kind === 'hl7v2')
    : [{ id: HL7_DEMO_SOURCE_ID, kind: 'hl7v2', provider: 'hl7-hospital', name: 'demo', options: hl7DemoSourceOptions() }];
  const source = flags.source ? configured.find((s) => s.id === flags.source) : configured.length === 1 ? configured[0] : undefined;
  if (!source) {
    const ids = configured.map((s) => s.id).join(', ') || 'none';
    throw new CliError(flags.source ? `no hl7v2 source ${flags.source} (configured: ${ids})` : `name the source with --source (hl7v2 sources: ${ids})`);
  }
  try {
    return { id: source.id, options: parseHl7v2Options(source.id, source.options, dataDir) };
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
}

async function withStore<T>(flags: StoreFlags, fn: (store: Hl7Store, options: Hl7v2SourceOptions) => Promise<T>): Promise<T> {
  const { id, options } = await resolveHl7Source(flags);
  if (options.store.kind === 'sqlite' && !existsSync(options.store.file)) {
    throw new CliError(`no store for source ${id} at ${options.store.file} (has the server run with it? check --data-dir / MEDREC_DATA_DIR)`);
  }
  const store = await openHl7Store(options.store);
  try {
    return await fn(store, options);
  } finally {
    await store.close();
  }
}

function line(l: DeadLetterSummary): string {
  const state = l.replayedAt ? `replayed ${l.replayedAt} (${l.replayOutcome ?? ''})` : 'open';
  return `#${l.id}  ${l.createdAt}  ${l.stage.padEnd(10)}  ${l.sender || '-'}  MSH-10 ${l.controlId || '-'}  ${l.reason}  [${state}]`;
}

function replayLine(r: ReplayResult): string {
  return `#${r.id} ${r.outcome}${r.detail ? `: ${r.detail}` : ''}`;
}

export const hl7Commands: CliGroup = {
  name: 'hl7',
  register(program: Command, ctx: CliContext) {
    const letters = program.command('hl7').description('HL7v2 feeds').command('dead-letters').description('messages refused or not converted, with the reason');
    storeOptions(letters.command('list').description('dead letters (open ones unless --all)'))
      .option('--all', 'include replayed ones')
      .option('--limit <n>', 'at most n', '100')
      .action(async (flags: StoreFlags & { all?: boolean; limit: string }) => {
        const limit = Number(flags.limit);
        if (!Number.isInteger(limit) || limit < 1) throw new CliError(`--limit must be a positive integer: ${flags.limit}`);
        const list = await withStore(flags, (store) => listDeadLetters(store, { limit, includeReplayed: flags.all === true }));
        ctx.print(list, () => (list.length === 0 ? 'no dead letters' : list.map(line)));
      });
    storeOptions(letters.command('show <id>').description('one dead letter with its raw message (contains PHI: handle with care)'))
      .action(async (id: string, flags: StoreFlags) => {
        const n = parseLetterId(id);
        const letter = await withStore(flags, (store) => store.deadLetter(n));
        if (!letter) throw new CliError(`no dead letter #${n}`);
        ctx.print(letter, () => [line(letter), '', letter.raw.replace(/\r\n?/g, '\n')]);
      });
    storeOptions(letters.command('replay [ids...]').description('replay dead letters by id, or every open one with --all'))
      .option('--all', 'replay every open dead letter')
      .action(async (ids: string[], flags: StoreFlags & { all?: boolean }) => {
        if (!flags.all && ids.length === 0) throw new CliError('name dead letter ids or pass --all');
        const results = await withStore(flags, async (store, options) => {
          const targets = flags.all ? (await store.deadLetters({ limit: 100_000 })).map((l) => l.id) : ids.map(parseLetterId);
          const out: ReplayResult[] = [];
          for (const id of targets) out.push(await replayDeadLetter(store, id, { processingIds: options.processingIds }));
          return out;
        });
        if (results.some((r) => r.outcome === 'refused' || r.outcome === 'not-found')) ctx.exitCode = 1;
        ctx.print(results, () => (results.length === 0 ? 'nothing to replay' : results.map(replayLine)));
      });
  },
};

function parseLetterId(value: string): number {
  if (!/^\d{1,12}$/.test(value)) throw new CliError(`dead letter id must be a positive integer: ${value}`);
  return Number(value);
}
