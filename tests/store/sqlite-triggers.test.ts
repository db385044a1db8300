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

/** What version 5 left: the two triggers on columns every claim sets. */
const VERSION_5_TRIGGERS = [
  `CREATE TRIGGER durably_runs_child_finished
    AFTER UPDATE OF status ON durably_runs
    WHEN NEW.parent_run_id IS NOT NULL AND OLD.status <> NEW.status
      AND NEW.status IN ('completed', 'failed', 'cancelled')
    BEGIN
      UPDATE durably_runs SET available_at = NEW.updated_at, updated_at = NEW.updated_at
      WHERE id = NEW.parent_run_id AND status = 'pending'
        AND json_extract(wait_for, '$.kind') = 'child' AND json_extract(wait_for, '$.runId') = NEW.id
        AND available_at > NEW.updated_at;
    END`,
  `CREATE TRIGGER durably_runs_key_filled
    AFTER UPDATE OF lease_generation ON durably_runs
    WHEN NEW.status = 'running' AND OLD.status = 'pending' AND NEW.concurrency_key IS NOT NULL
    BEGIN
      UPDATE durably_runs SET parked_from = available_at, available_at = '9999-12-31T23:59:59.999Z'
      WHERE concurrency_key = NEW.concurrency_key AND status = 'pending' AND parked_from IS NULL
        AND available_at <= NEW.updated_at
        AND (SELECT COUNT(*) FROM durably_runs AS busy
             WHERE busy.status = 'running' AND busy.concurrency_key = NEW.concurrency_key)
            >= COALESCE(NEW.concurrency_limit, 1);
    END`,
]

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
    database.exec(`DROP TRIGGER durably_runs_child_ended; DROP TRIGGER durably_runs_slot_taken;
      DELETE FROM durably_schema_versions WHERE version = 6`)
    for (const trigger of VERSION_5_TRIGGERS) database.exec(trigger)

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
