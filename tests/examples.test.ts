/**
 * The examples the README points to must keep working: each runs as a real child process,
 * as a newcomer would run it.
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { postgresBackend } from './support/postgres.js'

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
})
