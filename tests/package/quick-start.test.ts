/**
 * The README's Quick start, as a newcomer meets it: the package is packed (`npm pack`),
 * installed into new apps with the README's own install line (the tarball stands in for
 * `durably`), and the README's own code is type-checked under `--strict` and run. It must print
 * its two lines and exit 0, in an ESM app and in a CommonJS one.
 *
 * TypeScript is the repository's own (locked) compiler, so a new TypeScript release cannot fail
 * CI; everything else comes from the npm registry, with npm's cache in the temp directory.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { exec, npmEnvIn, packDurably, ROOT } from '../support/package.js'

const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const EXPECTED_OUTPUT = 'triggered pending\nsynced { syncedCount: 2 }\n'

function readmeQuickStart() {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  const install = readme.match(/<!-- quick-start:install -->\n```bash\n(npm install [^\n]+)\n```/)
  const code = readme.match(/<!-- quick-start:code[^>]*-->\n```ts\n([\s\S]*?)```/)
  if (!install?.[1] || !code?.[1]) throw new Error('README.md: Quick start markers not found')
  return { install: install[1], code: code[1] }
}

/** The same program as a CommonJS module: no top-level await, so the body goes in `main()`. */
function asCommonJs(code: string) {
  const lines = code.trimEnd().split('\n')
  const imports = lines.filter((line) => line.startsWith('import '))
  const body = lines.filter((line) => !line.startsWith('import '))
  return [
    ...imports,
    '',
    'async function main() {',
    ...body.map((line) => (line ? `  ${line}` : line)),
    '}',
    '',
    'main().catch((error: unknown) => {',
    '  console.error(error)',
    '  process.exitCode = 1',
    '})',
    '',
  ].join('\n')
}

describe('the README Quick start, from the packed package', () => {
  const { install, code } = readmeQuickStart()
  let temp: string
  let tarball: string
  let npmEnv: NodeJS.ProcessEnv

  beforeAll(async () => {
    temp = mkdtempSync(join(tmpdir(), 'durably-package-'))
    npmEnv = npmEnvIn(temp)
    // CI builds before testing; a fresh checkout that runs `npm test` alone builds here.
    const packed = await packDurably(temp, npmEnv)
    expect(packed.files).toContain('LICENSE')
    expect(packed.files.filter((path) => path.endsWith('.map'))).toEqual([])
    tarball = packed.tarball
  }, 120_000)

  afterAll(() => {
    if (temp) rmSync(temp, { recursive: true, force: true })
  })

  /** A new app with the README's install line, `durably` taken from the tarball. */
  async function newApp(name: string, type: 'module' | 'commonjs', source: string) {
    const dir = join(temp, name)
    mkdirSync(dir)
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name, version: '1.0.0', private: true, type }, null, 2),
    )
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          strict: true,
          skipLibCheck: false,
          outDir: 'out',
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['index.ts'],
      }),
    )
    writeFileSync(join(dir, 'index.ts'), source)
    const [npm, command, ...packages] = install.split(/\s+/)
    expect([npm, command]).toEqual(['npm', 'install'])
    const args = packages.map((spec) => (spec === 'durably' ? tarball : spec))
    const installed = await exec('npm', ['install', ...args], dir, npmEnv)
    expect(installed.code, installed.stdout + installed.stderr).toBe(0)
    const libsqlClients = await exec('npm', ['ls', '--all', '--parseable', '@libsql/client'], dir)
    expect(libsqlClients.stdout.trim().split('\n'), 'one @libsql/client in the app').toHaveLength(1)
    return dir
  }

  it('README.md shows examples/quick-start/index.ts as it is', () => {
    expect(code).toBe(readFileSync(join(ROOT, 'examples/quick-start/index.ts'), 'utf8'))
  })

  describe.concurrent('installed with the README line', () => {
    it('ESM + TypeScript: compiles under --strict, prints its lines and exits 0', async () => {
      const dir = await newApp('quick-start-esm', 'module', code)
      const tsc = await exec(process.execPath, [TSC, '-p', '.'], dir)
      expect(tsc.stdout + tsc.stderr).toBe('')
      expect(tsc.code).toBe(0)
      const run = await exec(process.execPath, ['out/index.js'], dir)
      expect(run.stderr).toBe('')
      expect(run.stdout).toBe(EXPECTED_OUTPUT)
      expect(run.code).toBe(0)
    }, 120_000)

    it('CommonJS + TypeScript: the same program runs, prints its lines and exits 0', async () => {
      const dir = await newApp('quick-start-cjs', 'commonjs', asCommonJs(code))
      const tsc = await exec(process.execPath, [TSC, '-p', '.'], dir)
      // kysely's CommonJS and ESM declarations are distinct types: the dialect option is
      // typed by shape so a dialect typed against either compiles.
      expect(tsc.stdout + tsc.stderr).toBe('')
      expect(tsc.code).toBe(0)
      expect(readFileSync(join(dir, 'out', 'index.js'), 'utf8')).toContain('require("durably")')
      const run = await exec(process.execPath, ['out/index.js'], dir)
      expect(run.stderr).toBe('')
      expect(run.stdout).toBe(EXPECTED_OUTPUT)
      expect(run.code).toBe(0)
    }, 120_000)
  })
})
