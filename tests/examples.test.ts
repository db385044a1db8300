/**
 * The examples the README points to must keep working: each runs as a real child process,
 * as a newcomer would run it.
 */
import { execFile, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { postgresBackend } from './support/postgres.js'
import { waitUntil } from './support/wait.js'

const run = promisify(execFile)
const tsx = (script: string, env: NodeJS.ProcessEnv = {}) =>
  run(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    timeout: 60_000,
  })

describe('examples', () => {
  it('the resume demo survives SIGKILL and runs no finished step twice', async () => {
    const { stdout } = await tsx('examples/resume-demo/run.ts')
    const executors = [...stdout.matchAll(/^\s+\d\. \S+\s+executed by pid (\d+)$/gm)].map(
      (match) => match[1],
    )
    expect(executors).toHaveLength(6)
    expect(new Set(executors).size).toBe(2)
    // Each step appears once in the table, and the killed process did the first ones.
    expect(executors[0]).not.toBe(executors[5])
  }, 60_000)

  it.skipIf(postgresBackend.unavailable)(
    'the PostgreSQL example spreads runs over three worker processes and dedupes by idempotency key',
    async () => {
      const { stdout } = await tsx('examples/postgres/run.ts')
      expect(stdout).toContain('repeating the first trigger returned the same run')
      const perWorker = JSON.parse(
        stdout.match(/runs completed per worker process: (\{.*\})/)![1]!,
      ) as Record<string, number>
      expect(Object.values(perWorker).reduce((sum, count) => sum + count, 0)).toBe(30)
    },
    60_000,
  )

  it.each(['examples/http/node-http.ts', 'examples/http/hono.ts'])(
    '%s serves the handler: trigger, then read the completed run',
    async (script) => {
      const child = spawn(process.execPath, ['--import', 'tsx', script], {
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
    const route = await import('../examples/http/react-router/app/routes/api.durably.$.js')
    const { durably } = await import('../examples/http/durably.js')
    await durably.init()
    try {
      const base = 'http://app.test/api/durably'
      const triggered = await route.action({
        request: new Request(`${base}/trigger`, {
          method: 'POST',
          body: JSON.stringify({ jobName: 'greet', input: { name: 'Lin' } }),
        }),
      })
      const { runId } = (await triggered.json()) as { runId: string }
      const run = await waitUntil(async () => {
        const response = await route.loader({ request: new Request(`${base}/run?runId=${runId}`) })
        const current = (await response.json()) as { status: string; output?: unknown }
        return current.status === 'completed' ? current : undefined
      })
      expect(run.output).toEqual({ greeting: 'Hello, Lin!' })
    } finally {
      await durably.destroy()
    }
  })
})
