/**
 * Compiles contracts/src with solc-js (standard JSON, evmVersion pinned to `cancun` because
 * OpenZeppelin 5.5+ needs `mcopy`, optimizer on) and writes:
 * - `contracts/artifacts/<Name>.json` (ABI + bytecode; not committed, regenerated on demand),
 * - `contracts/bindings/<Name>.ts` (committed): the ABI `as const`, enum constants taken from the
 *   Solidity AST, struct/function/event types, and a `connect<Name>()` returning a TypedContract.
 * A content hash of the sources, compiler and settings makes a rerun with nothing changed a no-op,
 * so `npm test` and `npm start` can run it every time.
 *
 * Run: `node contracts/build.ts [--force]`, or import `buildContracts()`.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

export const SOURCE_DIR = join(here, 'src');
export const ARTIFACT_DIR = join(here, 'artifacts');
export const BINDING_DIR = join(here, 'bindings');
/** The contracts a deployment consists of, in deployment order. */
export const DEPLOYABLE = ['ProviderRegistry', 'ParticipantDirectory', 'Relationships', 'Consent'] as const;
export type ContractName = (typeof DEPLOYABLE)[number];

const SETTINGS = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
  outputSelection: {
    '*': {
      '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object', 'userdoc'],
      '': ['ast'],
    },
  },
} as const;

// ------------------------------------------------------------- solc output shapes

export interface AbiParameter {
  readonly name: string;
  readonly type: string;
  readonly internalType?: string;
  readonly indexed?: boolean;
  readonly components?: readonly AbiParameter[];
}

export interface AbiItem {
  readonly type: 'function' | 'event' | 'error' | 'constructor' | 'fallback' | 'receive';
  readonly name?: string;
  readonly inputs?: readonly AbiParameter[];
  readonly outputs?: readonly AbiParameter[];
  readonly stateMutability?: 'pure' | 'view' | 'nonpayable' | 'payable';
  readonly anonymous?: boolean;
}

export interface Artifact {
  readonly contractName: ContractName;
  readonly sourceHash: string;
  readonly abi: readonly AbiItem[];
  readonly bytecode: string;
  readonly deployedBytecode: string;
}

interface SolcContract {
  abi: AbiItem[];
  evm: { bytecode: { object: string }; deployedBytecode: { object: string } };
  userdoc?: { methods?: Record<string, { notice?: string }>; events?: Record<string, { notice?: string }>; notice?: string };
}

interface AstNode {
  nodeType: string;
  name?: string;
  members?: AstNode[];
  nodes?: AstNode[];
}

interface SolcOutput {
  errors?: { severity: 'error' | 'warning' | 'info'; formattedMessage: string; sourceLocation?: { file: string } }[];
  contracts?: Record<string, Record<string, SolcContract>>;
  sources?: Record<string, { ast: AstNode }>;
}

interface Solc {
  version(): string;
  compile(input: string, callbacks: { import: (path: string) => { contents: string } | { error: string } }): string;
}

// ------------------------------------------------------------------------ build

export interface BuildResult {
  readonly compiled: boolean;
  readonly hash: string;
  readonly contracts: readonly ContractName[];
}

function sourceFiles(): Record<string, { content: string }> {
  const sources: Record<string, { content: string }> = {};
  for (const file of readdirSync(SOURCE_DIR).filter((f) => f.endsWith('.sol')).sort()) {
    sources[file] = { content: readFileSync(join(SOURCE_DIR, file), 'utf8') };
  }
  return sources;
}

function contentHash(sources: Record<string, { content: string }>, solcVersion: string): string {
  const hash = createHash('sha256');
  hash.update(solcVersion);
  hash.update(JSON.stringify(SETTINGS));
  hash.update(readFileSync(require.resolve('@openzeppelin/contracts/package.json')));
  hash.update(readFileSync(fileURLToPath(import.meta.url)));
  for (const [name, { content }] of Object.entries(sources)) hash.update(`${name}\0${content}\0`);
  return hash.digest('hex').slice(0, 32);
}

function upToDate(hash: string): boolean {
  return DEPLOYABLE.every((name) => {
    const artifact = join(ARTIFACT_DIR, `${name}.json`);
    const binding = join(BINDING_DIR, `${name}.ts`);
    if (!existsSync(artifact) || !existsSync(binding)) return false;
    const parsed = JSON.parse(readFileSync(artifact, 'utf8')) as Partial<Artifact>;
    return parsed.sourceHash === hash && readFileSync(binding, 'utf8').includes(`sourceHash: ${hash}`);
  });
}

/** Compiles when sources, compiler or settings changed since the last build; otherwise no-op. */
export function buildContracts(options: { force?: boolean } = {}): BuildResult {
  // The package version names the compiler; loading solc itself (9 MB of wasm) waits until needed.
  const { version } = JSON.parse(readFileSync(require.resolve('solc/package.json'), 'utf8')) as { version: string };
  const sources = sourceFiles();
  const hash = contentHash(sources, version);
  if (!options.force && upToDate(hash)) return { compiled: false, hash, contracts: DEPLOYABLE };
  const solc = require('solc') as Solc;

  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (path) => {
        try {
          return { contents: readFileSync(require.resolve(path), 'utf8') };
        } catch {
          return { error: `cannot resolve import ${path}` };
        }
      },
    }),
  ) as SolcOutput;

  const problems = (output.errors ?? []).filter(
    (e) => e.severity === 'error' || (e.severity === 'warning' && !e.sourceLocation?.file.startsWith('@openzeppelin/')),
  );
  if (problems.some((e) => e.severity === 'error')) {
    throw new Error(`solc failed:\n${problems.map((e) => e.formattedMessage).join('\n')}`);
  }
  for (const warning of problems) process.stderr.write(warning.formattedMessage + '\n');

  const enums = collectEnums(output);
  mkdirSync(ARTIFACT_DIR, { recursive: true });
  mkdirSync(BINDING_DIR, { recursive: true });
  for (const name of DEPLOYABLE) {
    const contract = output.contracts?.[`${name}.sol`]?.[name];
    if (!contract) throw new Error(`solc produced no ${name}`);
    const artifact: Artifact = {
      contractName: name,
      sourceHash: hash,
      abi: contract.abi,
      bytecode: `0x${contract.evm.bytecode.object}`,
      deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    };
    writeAtomically(join(ARTIFACT_DIR, `${name}.json`), JSON.stringify(artifact, null, 1) + '\n');
    writeAtomically(join(BINDING_DIR, `${name}.ts`), renderBinding(name, hash, contract, enums));
  }
  return { compiled: true, hash, contracts: DEPLOYABLE };
}

/** Readers (parallel test processes) never see a half-written file. */
function writeAtomically(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, content);
  renameSync(temp, file);
}

/** The artifact of one contract, building first when it is missing or stale. */
export function loadArtifact(name: ContractName): Artifact {
  buildContracts();
  return JSON.parse(readFileSync(join(ARTIFACT_DIR, `${name}.json`), 'utf8')) as Artifact;
}

// ------------------------------------------------------------------ bindings

/** `Contract.Enum` → member names, from our own sources' ASTs. */
function collectEnums(output: SolcOutput): Map<string, string[]> {
  const enums = new Map<string, string[]>();
  const visit = (node: AstNode, scope: string): void => {
    if (node.nodeType === 'EnumDefinition' && node.name) {
      enums.set(`${scope}.${node.name}`, (node.members ?? []).map((m) => m.name ?? ''));
    }
    const nextScope = node.nodeType === 'ContractDefinition' && node.name ? node.name : scope;
    for (const child of node.nodes ?? []) visit(child, nextScope);
  };
  for (const [file, source] of Object.entries(output.sources ?? {})) {
    if (!file.startsWith('@')) visit(source.ast, '');
  }
  return enums;
}

const structName = (internalType: string): string => internalType.replace(/^struct /, '').replace(/\[\d*\]$/g, '').split('.').pop() ?? 'Struct';
const enumKey = (internalType: string): string => internalType.replace(/^enum /, '').replace(/(\[\d*\])+$/, '');

interface TypeContext {
  readonly structs: Map<string, readonly AbiParameter[]>;
  readonly enums: Map<string, string[]>;
  readonly usedEnums: Set<string>;
}

/** TS type of an ABI parameter, as ethers returns it after `TypedContract` conversion. */
function tsType(p: AbiParameter, direction: 'in' | 'out', ctx: TypeContext): string {
  const array = /^(.*)\[(\d*)\]$/.exec(p.type);
  if (array) {
    const inner: AbiParameter = {
      ...p,
      type: array[1] ?? '',
      internalType: p.internalType?.replace(/\[\d*\]$/, ''),
    };
    const element = tsType(inner, direction, ctx);
    return direction === 'in' ? `readonly ${wrap(element)}[]` : `${wrap(element)}[]`;
  }
  if (p.type === 'tuple') {
    const name = structName(p.internalType ?? 'struct Struct');
    ctx.structs.set(name, p.components ?? []);
    return direction === 'in' ? `${name}Input` : name;
  }
  if (p.internalType?.startsWith('enum ')) {
    const key = enumKey(p.internalType);
    if (ctx.enums.has(key)) {
      ctx.usedEnums.add(key);
      return key.split('.').pop() ?? 'number';
    }
  }
  if (/^u?int/.test(p.type)) {
    const bits = Number(p.type.replace(/^u?int/, '') || '256');
    if (bits <= 64) return direction === 'in' ? 'number | bigint' : 'number';
    return direction === 'in' ? 'bigint | number' : 'bigint';
  }
  if (p.type === 'bool') return 'boolean';
  return 'string'; // address, string, bytes, bytesN
}

const wrap = (t: string): string => (t.includes(' ') ? `(${t})` : t);
const comment = (text: string | undefined, indent: string): string =>
  text ? `${indent}/** ${text.replace(/\*\//g, '*\\/').replace(/\s+/g, ' ').trim()} */\n` : '';

function signature(item: AbiItem): string {
  const types = (params: readonly AbiParameter[]): string =>
    params.map((p) => (p.type.startsWith('tuple') ? `(${types(p.components ?? [])})${p.type.slice(5)}` : p.type)).join(',');
  return `${item.name ?? ''}(${types(item.inputs ?? [])})`;
}

function renderBinding(name: ContractName, hash: string, contract: SolcContract, enums: Map<string, string[]>): string {
  const ctx: TypeContext = { structs: new Map(), enums, usedEnums: new Set() };
  const functions = contract.abi.filter((i) => i.type === 'function');
  const events = contract.abi.filter((i) => i.type === 'event');
  const seen = new Set<string>();
  for (const f of functions) {
    if (seen.has(f.name ?? '')) throw new Error(`${name}.${f.name} is overloaded; bindings need unique names`);
    seen.add(f.name ?? '');
  }

  let fnBlock = '';
  for (const f of functions) {
    const inputs = (f.inputs ?? []).map((p, i) => `${p.name || `arg${i}`}: ${tsType(p, 'in', ctx)}`).join(', ');
    const outputs = f.outputs ?? [];
    let output: string;
    if (outputs.length === 0) output = 'void';
    else if (outputs.length === 1 && outputs[0]) output = tsType(outputs[0], 'out', ctx);
    else output = `{ ${outputs.map((p, i) => `${p.name || `out${i}`}: ${tsType(p, 'out', ctx)}`).join('; ')} }`;
    const kind = f.stateMutability === 'view' || f.stateMutability === 'pure' ? 'view' : 'write';
    fnBlock += comment(contract.userdoc?.methods?.[signature(f)]?.notice, '  ');
    fnBlock += `  ${f.name}: { inputs: [${inputs}]; output: ${output}; kind: '${kind}' };\n`;
  }

  let eventBlock = '';
  for (const e of events) {
    eventBlock += comment(contract.userdoc?.events?.[signature(e)]?.notice, '  ');
    const fields = (e.inputs ?? []).map((p) => `${p.name}: ${tsType(p, 'out', ctx)}`).join('; ');
    eventBlock += `  ${e.name}: { ${fields} };\n`;
  }

  // Struct types may reference further structs: render until no new ones appear.
  let structBlock = '';
  const rendered = new Set<string>();
  for (let progress = true; progress; ) {
    progress = false;
    for (const [struct, components] of [...ctx.structs]) {
      if (rendered.has(struct)) continue;
      rendered.add(struct);
      progress = true;
      const out = components.map((c) => `  ${c.name}: ${tsType(c, 'out', ctx)};`).join('\n');
      const inp = components.map((c) => `  readonly ${c.name}: ${tsType(c, 'in', ctx)};`).join('\n');
      structBlock += `export interface ${struct} {\n${out}\n}\n\nexport interface ${struct}Input {\n${inp}\n}\n\n`;
    }
  }

  let enumBlock = '';
  for (const key of [...ctx.usedEnums].sort()) {
    const enumName = key.split('.').pop() ?? key;
    const members = (enums.get(key) ?? []).map((m, i) => `  ${m}: ${i},`).join('\n');
    enumBlock += `export const ${enumName} = {\n${members}\n} as const;\nexport type ${enumName} = (typeof ${enumName})[keyof typeof ${enumName}];\n\n`;
  }

  const abiJson = JSON.stringify(contract.abi, null, 2);
  return `// Generated by contracts/build.ts from ${relative(root, join(SOURCE_DIR, `${name}.sol`))}. Do not edit.
// sourceHash: ${hash}
import type { ContractRunner } from 'ethers';
import { TypedContract } from '../typed-contract.ts';

export const ${lowerFirst(name)}Abi = ${abiJson} as const;

${enumBlock}${structBlock}export interface ${name}Functions {
${fnBlock}}

export interface ${name}Events {
${eventBlock}}

export type ${name}Contract = TypedContract<${name}Functions, ${name}Events>;

${comment(contract.userdoc?.notice, '')}export function connect${name}(address: string, runner: ContractRunner | null): ${name}Contract {
  return new TypedContract<${name}Functions, ${name}Events>(${lowerFirst(name)}Abi, address, runner);
}
`;
}

const lowerFirst = (s: string): string => s.charAt(0).toLowerCase() + s.slice(1);

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const started = Date.now();
  const result = buildContracts({ force: process.argv.includes('--force') });
  console.log(
    result.compiled
      ? `contracts: compiled ${result.contracts.join(', ')} in ${Date.now() - started} ms (${result.hash})`
      : `contracts: up to date (${result.hash})`,
  );
}
