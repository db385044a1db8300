/**
 * SQLite compiles every trigger an UPDATE could fire into the statement, and libSQL's client
 * prepares every statement anew, so which columns a trigger watches is paid by every claim.
 * The wake-up and parking triggers watch columns only the writes that need them set. Counted
 * here as the `Program` opcodes (one per trigger) in each statement's EXPLAIN.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { SqliteDialect } from 'kysely'
import Libsql from 'libsql'
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createDurably, defineJob } from '../../src/index.js'
import { tempDir } from '../support/backends.js'
import { countPrepares } from '../support/counted-database.js'

const echo = defineJob({
  name: 'echo',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => step.run('echo', () => n),
})

/**
 * What version 5 had, made from version 6's triggers: the same bodies under their old names,
 * on columns every claim sets.
 */
const VERSION_5_NAMES = [
  ['durably_runs_child_ended', 'durably_runs_child_finished', 'completed_at', 'status'],
  ['durably_runs_slot_taken', 'durably_runs_key_filled', 'concurrency_slot', 'lease_generation'],
] as const

describe('the triggers SQLite compiles into claims and completions', () => {
  const cleanups: (() => void)[] = []
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup()
  })

  /** A new database file; each opening is closed when durably is destroyed or the test ends. */
  function databaseFile() {
    const dir = tempDir('sqlite-triggers')
    const path = join(dir, 'test.db')
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    return () => {
      const database = new Libsql(path)
      cleanups.unshift(() => database.open && database.close())
      return database
    }
  }

  /** One plain run and one keyed run, each claimed and completed; the texts prepared meanwhile. */
  async function claimAndComplete(open: () => Libsql.Database) {
    const { counted, prepared } = countPrepares(open())
    const durably = createDurably({
      dialect: new SqliteDialect({ database: counted as unknown as BetterSqlite3.Database }),
    }).register({ echo })
    try {
      await durably.migrate()
      await durably.jobs.echo.trigger({ n: 1 })
      await durably.jobs.echo.trigger({ n: 2 }, { concurrencyKey: 'tenant' })
      expect(await durably.processOne()).toBe(true)
      expect(await durably.processOne()).toBe(true)
    } finally {
      await durably.destroy()
    }
    const texts = [...prepared.keys()]
    const claims = texts.filter((text) => text.includes("SET status = 'running'"))
    const one = (description: string, found: string[]) => {
      expect(found, description).toHaveLength(1)
      return found[0] as string
    }
    return {
      quickClaim: one(
        'the claim of a plain run',
        claims.filter((text) => !text.includes('concurrency_slot')),
      ),
      fullClaim: one(
        'the claim of a keyed run',
        claims.filter((text) => text.includes('concurrency_slot')),
      ),
      completions: texts.filter((text) =>
        /^update "durably_runs" set "status" = \?, "output"/.test(text),
      ),
    }
  }

  /** How many triggers SQLite compiled into `text`. */
  function triggersIn(open: () => Libsql.Database, text: string): number {
    const program = open().prepare(`EXPLAIN ${text}`).all() as { opcode: string }[]
    return program.filter((instruction) => instruction.opcode === 'Program').length
  }

  it("compiles no trigger into a plain run's claim", async () => {
    const open = databaseFile()
    const { quickClaim } = await claimAndComplete(open)
    expect(triggersIn(open, quickClaim)).toBe(0)
  })

  it("compiles only the parking trigger into a keyed run's claim", async () => {
    const open = databaseFile()
    const { fullClaim } = await claimAndComplete(open)
    expect(triggersIn(open, fullClaim)).toBe(1)
  })

  it("compiles the parent's wake-up into a completion, and the key's release into a keyed one", async () => {
    const open = databaseFile()
    const { completions } = await claimAndComplete(open)
    const plain = completions.filter((text) => !text.includes('concurrency_limit'))
    const keyed = completions.filter((text) => text.includes('concurrency_limit'))
    expect([plain.length, keyed.length]).toEqual([1, 1])
    expect(triggersIn(open, plain[0] as string)).toBe(1)
    expect(triggersIn(open, keyed[0] as string)).toBe(2)
  })

  it('replaces the triggers of a version-5 database when it migrates', async () => {
    const open = databaseFile()
    const durably = createDurably({
      dialect: new SqliteDialect({ database: open() as unknown as BetterSqlite3.Database }),
    })
    await durably.migrate()
    await durably.destroy()
    const database = open()
    for (const [name, oldName, column, oldColumn] of VERSION_5_NAMES) {
      const { sql } = database
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?")
        .get(name) as { sql: string }
      database.exec(`DROP TRIGGER ${name}`)
      database.exec(
        sql
          .replace(name, oldName)
          .replace(`AFTER UPDATE OF ${column}`, `AFTER UPDATE OF ${oldColumn}`),
      )
    }
    database.exec('DELETE FROM durably_schema_versions WHERE version = 6')
    const version5 = database
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%UPDATE OF status%'",
      )
      .all()
    expect(version5, 'the version-5 wake-up trigger is in place').toHaveLength(1)

    const { quickClaim } = await claimAndComplete(open)
    expect(triggersIn(open, quickClaim)).toBe(0)
    const triggers = open()
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'durably_runs'",
      )
      .all() as { name: string }[]
    expect(triggers.map((trigger) => trigger.name).sort()).toEqual([
      'durably_runs_child_ended',
      'durably_runs_delete_attempts',
      'durably_runs_delete_children',
      'durably_runs_key_freed',
      'durably_runs_slot_taken',
    ])
  })
})
