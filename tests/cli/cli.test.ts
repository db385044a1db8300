/**
 * The `durably` command, run as a child process (node + tsx on src/cli/main.ts, the source of
 * dist/cli.js) against real databases: a libSQL file written by an app's own instance, and
 * a PostgreSQL schema. It reads and administers runs without the jobs' code, and refuses,
 * in one line with exit code 1, what it cannot open, never creating tables.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createDurably, type Durably, defineJob, type Run } from '../../src/index.js'
import { FAST } from '../contract/harness.js'
import { tempDir } from '../support/backends.js'
import { createPostgresDatabase, POSTGRES_URL, postgresBackend } from '../support/postgres.js'
import { waitUntil } from '../support/wait.js'

interface Result {
  code: number | null
  stdout: string
  stderr: string
}

function cli(args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, DURABLY_DB: '' },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => {
      stdout += chunk
    })
    child.stderr.on('data', (chunk) => {
      stderr += chunk
    })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** A refusal: exit code 1 and exactly one line on stderr, starting `durably: `. */
function expectOneLineFailure(result: Result, words: RegExp): void {
  expect(result.code).toBe(1)
  const lines = result.stderr.trimEnd().split('\n')
  expect(lines).toHaveLength(1)
  expect(lines[0]).toMatch(/^durably: /)
  expect(lines[0]).toMatch(words)
}

const sendJob = defineJob({
  name: 'send-mail',
  input: z.object({ to: z.string() }),
  run: async (step, { to }) => {
    step.log.info(`rendering for ${to}`)
    await step.run('render', () => `hello ${to}`)
    step.progress(1, 2, 'rendered')
    await step.run('deliver', () => {
      if (to === 'full@example.com') throw new Error('mailbox full')
      return 'sent'
    })
    return { delivered: true }
  },
})

const reportJob = defineJob({
  name: 'report',
  input: z.object({}),
  run: async () => 7,
})

/** An app's instance: it writes runs the CLI then reads without knowing these jobs. */
function appInstance(dialect: ConstructorParameters<typeof LibsqlDialect>[0] | undefined) {
  return createDurably({ ...FAST, dialect: new LibsqlDialect(dialect!) }).register({
    send: sendJob,
    report: reportJob,
  })
}

describe('durably CLI on a libSQL file', () => {
  const dir = tempDir('cli')
  const file = join(dir, 'app.db')
  const url = `file:${file}`
  let app: ReturnType<typeof appInstance>
  let completed: Run
  let failed: Run
  let delayed: Run

  beforeAll(async () => {
    app = appInstance({ client: createClient({ url }) })
    await app.init()
    const ok = await app.send.triggerAndWait({ to: 'ada@example.com' })
    completed = (await app.getRun(ok.id))!
    const bad = await app.send.trigger({ to: 'full@example.com' })
    await waitUntil(async () => (await app.getRun(bad.id))?.status === 'failed', {
      what: 'the run to fail',
    })
    failed = (await app.getRun(bad.id))!
    await app.report.triggerAndWait({})
    // The app stops its worker: runs the CLI sends back stay visible as pending.
    await app.stop()
    delayed = await app.send.trigger({ to: 'later@example.com' }, { delay: 3_600_000 })
  })

  afterAll(async () => {
    await app?.destroy()
  })

  it('runs prints a table with every run, newest first', async () => {
    const result = await cli(['runs', '--db', url])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^ID +JOB +STATUS +PROGRESS +WAITING +CREATED +DURATION$/)
    expect(lines).toHaveLength(5)
    expect(lines[1]).toContain(delayed.id)
    expect(lines[1]).toMatch(/pending +- +delayed until /)
    expect(result.stdout).toMatch(new RegExp(`${completed.id} +send-mail +completed +1/2 rendered`))
    expect(result.stdout).toMatch(new RegExp(`${failed.id} +send-mail +failed`))
  })

  it('runs --status --job --limit --json prints the matching runs as JSON', async () => {
    const result = await cli(['runs', '--db', url, '--status', 'failed', '--json'])
    expect(result.code).toBe(0)
    const runs = JSON.parse(result.stdout) as Run[]
    expect(runs.map((run) => run.id)).toEqual([failed.id])
    const byJob = JSON.parse((await cli(['runs', '--db', url, '--job', 'report', '--json'])).stdout)
    expect(byJob.map((run: Run) => run.jobName)).toEqual(['report'])
    const limited = JSON.parse((await cli(['runs', '--db', url, '--limit', '1', '--json'])).stdout)
    expect(limited.map((run: Run) => run.id)).toEqual([delayed.id])
  })

  it('run <id> prints the run, its steps and its logs', async () => {
    const result = await cli(['run', failed.id, '--db', url])
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/^status +failed$/m)
    expect(result.stdout).toMatch(/^error +mailbox full$/m)
    expect(result.stdout).toMatch(/^0 +render +completed/m)
    expect(result.stdout).toMatch(/^1 +deliver +failed +\S+ +mailbox full$/m)
    expect(result.stdout).toContain('Logs')
    const json = JSON.parse((await cli(['run', failed.id, '--db', url, '--json'])).stdout)
    expect(json.run.id).toBe(failed.id)
    expect(json.steps.map((step: { name: string }) => step.name)).toEqual(['render', 'deliver'])
    expect(Array.isArray(json.logs)).toBe(true)
  })

  it('retry <id> sends a failed run back to the queue for the app’s workers', async () => {
    const result = await cli(['retry', failed.id, '--db', url, '--json'])
    expect(result.stderr).toBe('')
    expect(JSON.parse(result.stdout)).toEqual({ runId: failed.id, status: 'pending' })
    expect((await app.getRun(failed.id))?.status).toBe('pending')
  })

  it('retrying a run that is not failed or cancelled says why, in one line', async () => {
    expectOneLineFailure(await cli(['retry', completed.id, '--db', url]), /is completed/)
  })

  it('cancel <id> cancels a pending run', async () => {
    const result = await cli(['cancel', delayed.id, '--db', url])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(`Run ${delayed.id} cancelled`)
    expect((await app.getRun(delayed.id))?.status).toBe('cancelled')
  })

  it('a missing run id is one line and exit code 1', async () => {
    expectOneLineFailure(
      await cli(['run', 'no-such-run', '--db', url]),
      /no run with id no-such-run/,
    )
    expectOneLineFailure(await cli(['cancel', 'no-such-run', '--db', url]), /not found/)
  })

  it('a file that does not exist is one line and exit code 1, and is not created', async () => {
    const missing = join(dir, 'missing.db')
    expectOneLineFailure(await cli(['runs', '--db', `file:${missing}`]), /no database file/)
    expect(existsSync(missing)).toBe(false)
  })

  it('a database without durably tables is one line and exit code 1, and gets none', async () => {
    const empty = join(dir, 'other.db')
    const client = createClient({ url: `file:${empty}` })
    await client.execute('CREATE TABLE notes (id INTEGER PRIMARY KEY)')
    expectOneLineFailure(await cli(['runs', '--db', `file:${empty}`]), /has no durably tables/)
    const tables = await client.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    expect(tables.rows.map((row) => row.name)).toEqual(['notes'])
    client.close()
  })

  it('an unreachable PostgreSQL URL is one line and exit code 1', async () => {
    expectOneLineFailure(
      await cli(['runs', '--db', 'postgres://nobody:secret@127.0.0.1:1/none']),
      /cannot open postgres:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/none/,
    )
  })

  it('an unknown command or option is one line and exit code 1', async () => {
    expectOneLineFailure(await cli(['frobnicate', '--db', url]), /unknown command "frobnicate"/)
    expectOneLineFailure(await cli(['runs', '--db', url, '--colour']), /--colour/)
    expectOneLineFailure(await cli(['runs', '--db', url, '--status', 'done']), /--status/)
    expectOneLineFailure(await cli(['runs']), /--db/)
  })

  it('dashboard serves the page on 127.0.0.1 and streams runs changed by the app', async () => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'dashboard', '--db', url, '--port', '0'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    try {
      let out = ''
      child.stdout.on('data', (chunk) => {
        out += chunk
      })
      const base = await waitUntil(
        () => /durably dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out)?.[1],
        {
          timeout: 20_000,
          what: 'the dashboard address',
        },
      )
      const page = await fetch(base)
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toContain('text/html')
      expect(await page.text()).toContain('<script nonce=')

      // The app (another process's instance) triggers a run; the CLI's feed streams it.
      const events = await fetch(`${base}runs/subscribe`)
      const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader()
      const run = await app.report.trigger({}, { delay: 3_600_000 })
      let seen = ''
      await waitUntil(
        async () => {
          const { value } = await reader.read()
          seen += value ?? ''
          return seen.includes(run.id)
        },
        { timeout: 20_000, what: 'the run in the stream' },
      )
      await reader.cancel()

      // A job the CLI does not know can still be cancelled through the dashboard's route.
      const cancel = await fetch(`${base}cancel?runId=${run.id}`, { method: 'POST' })
      expect(cancel.status).toBe(200)
      expect((await app.getRun(run.id))?.status).toBe('cancelled')
    } finally {
      child.kill('SIGTERM')
    }
  })
})

describe.skipIf(postgresBackend.unavailable)('durably CLI on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>
  let app: Durably
  let schemaUrl: string

  beforeAll(async () => {
    database = await createPostgresDatabase()
    const url = new URL(POSTGRES_URL)
    url.searchParams.set('options', `-c search_path=${database.schema}`)
    schemaUrl = url.toString()
    app = createDurably({ ...FAST, dialect: database.dialect })
  })

  afterAll(async () => {
    await app?.destroy()
    await database?.cleanup()
  })

  it('a schema without durably tables is one line and exit code 1, and gets none', async () => {
    expectOneLineFailure(await cli(['runs', '--db', schemaUrl]), /has no durably tables/)
    const tables = await database.exec(
      'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
      [database.schema],
    )
    expect(tables).toEqual([])
  })

  it('runs lists the runs of a PostgreSQL database', async () => {
    const registered = app.register({ report: reportJob })
    const run = await registered.report.trigger({}, { delay: 3_600_000 })
    const result = await cli(['runs', '--db', schemaUrl, '--json'])
    expect(result.stderr).toBe('')
    expect((JSON.parse(result.stdout) as Run[]).map((r) => r.id)).toEqual([run.id])
  })
})
