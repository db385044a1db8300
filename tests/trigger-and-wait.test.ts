/**
 * `triggerAndWait` listens before it stores the run, so nothing the run emits can come
 * first, and it reads the run's row only to see another process end it (the poll). Counted
 * as the statements durably prepares on a libSQL `Database`.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { SqliteDialect } from 'kysely'
import Libsql from 'libsql'
import { afterEach, expect, it } from 'vitest'
import { z } from 'zod'
import { createDurably, defineJob } from '../src/index.js'
import { tempDir } from './support/backends.js'
import { countPrepares } from './support/counted-database.js'

const echo = defineJob({
  name: 'echo',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => step.run('echo', () => n),
})

const cleanups: (() => void)[] = []
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup()
})

it("reads no run row while its own worker runs a triggerAndWait's run", async () => {
  const dir = tempDir('trigger-and-wait')
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  const { counted, prepared } = countPrepares(new Libsql(join(dir, 'test.db')))
  const durably = createDurably({
    dialect: new SqliteDialect({ database: counted as unknown as BetterSqlite3.Database }),
    pollingInterval: 60_000,
  }).register({ echo })
  try {
    await durably.init()
    await durably.jobs.echo.triggerAndWait({ n: 0 })
    prepared.clear()
    for (let n = 1; n <= 5; n++) {
      expect(await durably.jobs.echo.triggerAndWait({ n })).toMatchObject({ output: n })
    }
  } finally {
    await durably.destroy()
  }
  const runReads = [...prepared.keys()].filter((text) => /^select "durably_runs"\.\*/.test(text))
  expect(runReads).toEqual([])
})
