#!/usr/bin/env node
/**
 * `medrec`: the MedRec network from the command line, for operators, provider nodes, patients
 * and scripts. Keys come from MEDREC_KEY or a keystore file; `--json` prints machine-readable
 * output; any failure is one line on stderr and exit code 1.
 */
import { realpathSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { toMedRecError } from '../../contracts/client.ts';
import { CliContext, CliError, defaultDeploymentFile, type CliGroup } from './cli-context.ts';
import { CLI_GROUPS } from './groups.ts';

/** Builds the program with the given groups (tests build it with their own output sink). */
export function buildProgram(
  groups: readonly CliGroup[] = CLI_GROUPS,
  io: { env?: NodeJS.ProcessEnv; write?: (text: string) => void } = {},
): { program: Command; ctx: CliContext } {
  const program = new Command('medrec')
    .description('MedRec network: providers, participants, relationships, consent')
    .option('--rpc <url>', 'Ethereum JSON-RPC URL (env MEDREC_RPC_URL; default: the one in the deployment file)')
    .option('--chain-id <id>', 'expected chain id (env MEDREC_CHAIN_ID)')
    .option('--deployment <file>', 'deployment file (env MEDREC_DEPLOYMENT)', (io.env ?? process.env).MEDREC_DEPLOYMENT ?? defaultDeploymentFile(io.env ?? process.env))
    .option('--keystore <file>', 'encrypted JSON keystore (password in MEDREC_KEYSTORE_PASSWORD); default key: MEDREC_KEY')
    .option('--demo <handle>', 'act with a PUBLISHED demo key (alice, hospital, ...); demo chains only')
    .option('--sign-only', 'patient actions: print the signed EIP-712 message instead of sending it')
    .option('--json', 'machine-readable output')
    .showHelpAfterError(false)
    .exitOverride();
  const ctx = new CliContext(program, io);
  const seen = new Set<string>();
  for (const group of groups) {
    if (seen.has(group.name)) throw new Error(`two CLI groups named ${group.name}`);
    seen.add(group.name);
    group.register(program, ctx);
  }
  // Subcommands inherit the one-line error behaviour.
  const quiet = (command: Command): void => {
    command.exitOverride().configureOutput({ outputError: () => undefined });
    command.commands.forEach(quiet);
  };
  quiet(program);
  program.configureOutput({ writeOut: (text) => (io.write ?? ((t: string) => process.stdout.write(t)))(text) });
  return { program, ctx };
}

/** Runs the CLI; resolves to the exit code. */
export async function runCli(
  argv: readonly string[],
  io: { env?: NodeJS.ProcessEnv; write?: (text: string) => void; error?: (text: string) => void } = {},
): Promise<number> {
  const error = io.error ?? ((text: string) => process.stderr.write(text));
  const { program, ctx } = buildProgram(CLI_GROUPS, io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0; // --help, --version
      if (e.code === 'commander.help' || e.code === 'commander.helpDisplayed') return e.exitCode; // help already on stderr
      error(`medrec: ${e.message.replace(/^error: /, '')}\n`);
      return e.exitCode || 1;
    }
    const message = e instanceof CliError ? e.message : toMedRecError(e).message;
    error(`medrec: ${message}\n`);
    return 1;
  } finally {
    await ctx.close();
  }
}

if (process.argv[1] && import.meta.filename === realpathSync(process.argv[1])) {
  process.exitCode = await runCli(process.argv.slice(2));
}
