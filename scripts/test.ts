/**
 * `npm test`: prepares what the tests need (type check, contract build, web builds), runs every
 * tap test, and ends with one line `N passed, N failed` taken from the real run.
 * Extra arguments go to tap (e.g. `npm test -- test/fhir`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

interface StepResult { passed: number; failed: number }

function run(command: string, args: string[], onLine?: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      buffered += chunk.toString('utf8');
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) onLine?.(line);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (buffered) onLine?.(buffered);
      resolve(code ?? 1);
    });
  });
}

async function step(name: string, command: string, args: string[]): Promise<StepResult> {
  console.log(`# ${name}: ${command} ${args.join(' ')}`);
  const code = await run(command, args);
  console.log(`# ${name}: ${code === 0 ? 'ok' : `failed with exit code ${code}`}`);
  return code === 0 ? { passed: 1, failed: 0 } : { passed: 0, failed: 1 };
}

async function tap(args: string[]): Promise<StepResult> {
  let summary: StepResult | undefined;
  const code = await run('npx', ['tap', '--reporter=tap', ...args], (line) => {
    // tap's closing line: `# { total: 12, pass: 11, fail: 1, skip: 0 }`
    const m = /^# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?/.exec(line);
    if (m) summary = { passed: Number(m[2] ?? 0), failed: Number(m[3] ?? 0) };
  });
  if (!summary) return { passed: 0, failed: 1 };
  // A crashed file can leave tap non-zero with no failed assertion counted.
  if (code !== 0 && summary.failed === 0) summary = { ...summary, failed: 1 };
  return summary;
}

const tapArgs = process.argv.slice(2);
const results: StepResult[] = [];
// Builds first: generated bindings and web bundles are part of what the type check sees.
for (const build of ['contracts/build.ts', 'server/web/build.ts']) {
  if (existsSync(build)) results.push(await step(`build ${build}`, process.execPath, [build]));
}
results.push(await step('typecheck', 'npx', ['tsc', '--noEmit', '-p', 'tsconfig.json']));
results.push(await tap(tapArgs));

const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
console.log(`${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
