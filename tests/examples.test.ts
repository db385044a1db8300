/**
 * The examples the README points to must keep working: each runs as a real child process,
 * as a newcomer would run it. They import `durably` like an app; each starts in its example's
 * directory, where tsx reads examples/tsconfig.json and maps `durably` to src (examples/README.md).
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { postgresBackend } from './support/postgres.js'
import { waitUntil } from './support/wait.js'

const ROOT = join(import.meta.dirname, '..')
const EXAMPLES = join(ROOT, 'examples')
/** tsx by absolute URL, so an example may also start outside the repository. */
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href

const run = promisify(execFile)
const tsx = (script: string, cwd: string, env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, ['--import', TSX, script], {
    cwd,
    env: { ...process.env, ...env },
    timeout: 60_000,
  })

describe('examples', () => {
  it('the quick start prints its two lines and exits on its own', async () => {
    // Started in a temp directory, so its local.db stays out of the tree; TSX_TSCONFIG_PATH
    // gives tsx the mapping it would read in examples/quick-start.
    const cwd = mkdtempSync(join(tmpdir(), 'durably-quick-start-'))
    try {
      const { stdout } = await tsx(join(EXAMPLES, 'quick-start', 'index.ts'), cwd, {
        TSX_TSCONFIG_PATH: join(EXAMPLES, 'tsconfig.json'),
      })
      expect(stdout).toBe('triggered pending\nsynced { syncedCount: 2 }\n')
    } finally {
      rmSync(cwd, { recursive: true, force: true })
    }
  })

  it('the resume demo survives SIGKILL, runs no finished step twice and says what happened', async () => {
    const { stdout } = await tsx('examples/resume-demo/run.ts', ROOT)
    const executors = [...stdout.matchAll(/^\s+\d\. \S+\s+executed by pid (\d+)$/gm)].map(
      (match) => match[1],
    )
    expect(executors).toHaveLength(6)
    expect(new Set(executors).size).toBe(2)
    // Each step appears once in the table, and the killed process did the first ones.
    expect(executors[0]).not.toBe(executors[5])
    // The closing text matches the log: a step ran twice only if both processes started it.
    const startedTwice = ['download', 'unpack', 'validate', 'transform', 'index', 'publish'].filter(
      (name) => stdout.match(new RegExp(`executing step \\d/6: ${name}$`, 'gm'))?.length === 2,
    )
    if (startedTwice.length === 0) expect(stdout).toContain('No step ran twice')
    else expect(stdout).toContain(`Step "${startedTwice[0]}" ran in both processes`)
  }, 60_000)

  it.skipIf(postgresBackend.unavailable)(
    'the PostgreSQL example spreads runs over three worker processes and dedupes by idempotency key',
    async () => {
      const { stdout } = await tsx('run.ts', join(EXAMPLES, 'postgres'))
      expect(stdout).toContain('repeating the first trigger returned the same run')
      const perWorker = JSON.parse(
        stdout.match(/runs completed per worker process: (\{.*\})/)![1]!,
      ) as Record<string, number>
      expect(Object.values(perWorker).reduce((sum, count) => sum + count, 0)).toBe(30)
    },
    60_000,
  )

  it.each(['node-http.ts', 'hono.ts'])(
    'examples/http/%s serves the handler: trigger, then read the completed run',
    async (script) => {
      const child = spawn(process.execPath, ['--import', TSX, script], {
        cwd: join(EXAMPLES, 'http'),
        env: { ...process.env, PORT: '0' },
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      try {
        const url = await new Promise<string>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)))
          createInterface({ input: child.stdout! }).on('line', (line) => {
            const match = line.match(/listening on (\S+)/)
            if (match) resolve(match[1]!)
          })
        })
        const triggered = await fetch(`${url}/trigger`, {
          method: 'POST',
          body: JSON.stringify({ jobName: 'greet', input: { name: 'Ada' } }),
        })
        const { runId } = (await triggered.json()) as { runId: string }
        const run = await waitUntil(async () => {
          const current = (await (await fetch(`${url}/run?runId=${runId}`)).json()) as {
            status: string
            output?: unknown
          }
          return current.status === 'completed' ? current : undefined
        })
        expect(run.output).toEqual({ greeting: 'Hello, Ada!' })
      } finally {
        child.kill('SIGTERM')
      }
    },
    60_000,
  )

  it('the React Router resource route hands loader and action requests to the handler', async () => {
    // In a child process like the others: the test runner does not read examples/tsconfig.json.
    const script = `
      const route = await import('./react-router/app/routes/api.durably.$.ts')
      const { durably } = await import('./durably.ts')
      await durably.init()
      try {
        const base = 'http://app.test/api/durably'
        const triggered = await route.action({
          request: new Request(base + '/trigger', {
            method: 'POST',
            body: JSON.stringify({ jobName: 'greet', input: { name: 'Lin' } }),
          }),
        })
        const { runId } = await triggered.json()
        for (let attempt = 0; attempt < 500; attempt++) {
          const response = await route.loader({ request: new Request(base + '/run?runId=' + runId) })
          const run = await response.json()
          if (run.status === 'completed') {
            console.log(JSON.stringify(run.output))
            break
          }
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      } finally {
        await durably.destroy()
      }
    `
    const { stdout } = await run(
      process.execPath,
      ['--import', TSX, '--input-type=module', '--eval', script],
      { cwd: join(EXAMPLES, 'http'), timeout: 60_000 },
    )
    expect(JSON.parse(stdout)).toEqual({ greeting: 'Hello, Lin!' })
  }, 60_000)
})
