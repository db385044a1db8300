/**
 * A PostgreSQL database for a workload, when one is reachable (DURABLY_TEST_POSTGRES_URL):
 * each `open()` makes a schema of its own, dropped at `close()`, so rounds never share rows.
 */
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { createDurably, type DurablyOptions } from '../src/index.js'

export const POSTGRES_URL =
  process.env.DURABLY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Statements the instance's pool sent (LISTEN's connection included), and claims among them. */
export interface StatementCounts {
  statements: number
  claims: number
}

export interface PostgresBench {
  /** A durably instance in a fresh schema (library defaults plus `options`). */
  open(
    options?: Partial<DurablyOptions>,
    extra?: { listen?: boolean },
  ): Promise<{
    durably: ReturnType<typeof createDurably>
    counts: StatementCounts
    /** A statement on the instance's pool, outside durably (the raw floor). */
    raw(text: string, values?: unknown[]): Promise<unknown>
    close(): Promise<void>
  }>
  end(): Promise<void>
}

/** The admin connection, or null (with a note on stderr) when PostgreSQL is unreachable. */
export async function openPostgresBench(workload: string): Promise<PostgresBench | null> {
  const admin = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 })
  try {
    await admin.connect()
  } catch (error) {
    console.error(
      `[bench] ${workload}: PostgreSQL skipped, unreachable at ${POSTGRES_URL} (${(error as Error).message})`,
    )
    return null
  }
  let schemas = 0
  return {
    async open(options = {}, extra = {}) {
      const schema = `durably_bench_${workload.replace(/\W/g, '_')}_${Date.now().toString(36)}_${schemas++}`
      await admin.query(`CREATE SCHEMA ${schema}`)
      const pool = new pg.Pool({
        connectionString: POSTGRES_URL,
        options: `-c search_path=${schema}`,
      })
      const counts: StatementCounts = { statements: 0, claims: 0 }
      pool.on('connect', (client) => {
        const query = client.query.bind(client) as (...args: unknown[]) => unknown
        ;(client as { query: unknown }).query = (...args: unknown[]) => {
          counts.statements++
          const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: string })?.text
          if (text?.includes("SET status = 'running'")) counts.claims++
          return query(...args)
        }
      })
      const durably = createDurably({
        dialect: new PostgresDialect({ pool }),
        ...(extra.listen ? { listen: pool } : {}),
        ...options,
      })
      return {
        durably,
        counts,
        raw: (text, values) => pool.query(text, values),
        async close() {
          await durably.destroy()
          await admin.query(`DROP SCHEMA ${schema} CASCADE`)
        },
      }
    },
    end: () => admin.end(),
  }
}
