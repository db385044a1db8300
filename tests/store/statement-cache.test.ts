/**
 * `cacheStatements`: durably's hot statements are prepared once per database, everything
 * else as before, and the database keeps its own API. (The whole contract suite also runs on
 * it: better-sqlite3.cached.contract.test.ts.)
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteDialect, sql } from 'kysely'
import Libsql from 'libsql'
import { afterEach, describe, expect, it } from 'vitest'
import { drainThreeStepRuns, threeStepJob } from '../../bench/setup.js'
import {
  cacheStatements,
  createDurably,
  DatabaseError,
  InvalidArgumentError,
} from '../../src/index.js'
import { isHotSql } from '../../src/store/compiled.js'
import { tempDir } from '../support/backends.js'
import { countPrepares } from '../support/counted-database.js'

function countedDatabase(file: string) {
  const database = new Database(file)
  return { database, ...countPrepares(database) }
}

describe('cacheStatements', () => {
  const cleanups: (() => void)[] = []
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup()
  })
  const file = () => {
    const dir = tempDir('statement-cache')
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    return join(dir, 'test.db')
  }

  /** Runs `runs` 3-step runs to completion; what each text was prepared, how many times. */
  async function drain(wrap: (database: Database.Database) => Database.Database, runs: number) {
    const { counted, prepared } = countedDatabase(file())
    const durably = createDurably({
      dialect: new SqliteDialect({ database: wrap(counted) }),
    }).register({ job: threeStepJob })
    try {
      await durably.migrate()
      await drainThreeStepRuns(durably, durably.jobs.job, runs)
    } finally {
      await durably.destroy()
    }
    return prepared
  }

  it("prepares each of durably's hot statements once, however many runs", async () => {
    const prepared = await drain(cacheStatements, 20)
    const hot = [...prepared].filter(([text]) => isHotSql(text))
    const claim = hot.find(([text]) => text.includes("SET status = 'running'"))
    expect(claim, 'the claim is among the hot statements').toBeDefined()
    expect(hot.filter(([, times]) => times > 1)).toEqual([])
  })

  it('is what keeps them prepared: without it the claim is prepared on every claim', async () => {
    const prepared = await drain((database) => database, 20)
    const claims = [...prepared].filter(([text]) => text.includes("SET status = 'running'"))
    expect(claims.reduce((sum, [, times]) => sum + times, 0)).toBeGreaterThanOrEqual(20)
  })

  it('prepares every other statement as before', async () => {
    const { counted, prepared } = countedDatabase(file())
    const durably = createDurably({
      dialect: new SqliteDialect({ database: cacheStatements(counted) }),
    })
    try {
      await durably.migrate()
      const own = sql<{ n: number }>`SELECT count(*) AS n FROM durably_runs`
      await own.execute(durably.db)
      await own.execute(durably.db)
      expect(prepared.get('SELECT count(*) AS n FROM durably_runs')).toBe(2)
    } finally {
      await durably.destroy()
    }
  })

  it("keeps the database's own API, and closes it", () => {
    const database = new Database(file())
    const cached = cacheStatements(database)
    expect(cached.pragma('journal_mode', { simple: true })).toBe(
      database.pragma('journal_mode', { simple: true }),
    )
    expect(cached.open).toBe(true)
    cached.close()
    expect(database.open).toBe(false)
  })

  const drivers = {
    'better-sqlite3': (path: string) => new Database(path),
    "libSQL's Database": (path: string) => new Libsql(path) as unknown as Database.Database,
  }
  for (const [driver, open] of Object.entries(drivers)) {
    it(`${driver}: a kept statement that failed as busy runs again once the lock is gone`, async () => {
      const path = file()
      const holder = open(path)
      const durably = createDurably({
        dialect: new SqliteDialect({ database: cacheStatements(open(path)) }),
      }).register({ job: threeStepJob })
      try {
        await durably.migrate()
        await durably.jobs.job.trigger({ n: 0 }) // the insert is prepared and kept
        holder.exec('BEGIN IMMEDIATE')
        await expect(durably.jobs.job.trigger({ n: 1 })).rejects.toThrow(DatabaseError)
        holder.exec('ROLLBACK')
        const run = await durably.jobs.job.trigger({ n: 2 })
        const done = new Promise<void>((resolve) => {
          let completed = 0
          durably.on('run:complete', () => {
            if (++completed === 2) resolve()
          })
        })
        durably.start()
        await done
        expect(await durably.jobs.job.getRun(run.id)).toMatchObject({
          status: 'completed',
          output: 5,
        })
        // Nothing was left holding a transaction: the other connection writes.
        holder.exec('BEGIN IMMEDIATE')
        holder.exec('ROLLBACK')
      } finally {
        await durably.destroy()
        holder.close()
      }
    }, 20_000)
  }

  it('rejects what is not a database with a typed error', () => {
    expect(() => cacheStatements({} as never)).toThrow(InvalidArgumentError)
    expect(() => cacheStatements(null as never)).toThrow(/expected a better-sqlite3 Database/)
  })
})
