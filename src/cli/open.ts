/**
 * Opening an existing durably database from a URL, and nothing else: the CLI never creates a
 * database or its tables. A `file:` URL (or a bare path) must name an existing file; any URL
 * must reach a server; the durably tables must be there. Each refusal is a `CliError` with
 * one line to print. Drivers are loaded only for the URL that needs them: `pg` for
 * PostgreSQL, `@libsql/client` and `@libsql/kysely-libsql` for libSQL (the app that wrote the
 * database has them installed; durably itself depends on neither).
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { type Dialect, sql } from 'kysely'
import { createDurably, type Durably, withLogPersistence } from '../index.js'

/** A failure the CLI reports as one line on stderr, exiting with code 1. */
export class CliError extends Error {
  override name = 'CliError'
}

export interface OpenedDatabase {
  durably: Durably
  /** The URL with any password hidden, for messages. */
  shown: string
}

export async function openDatabase(url: string): Promise<OpenedDatabase> {
  const shown = hidePassword(url)
  const dialect = isPostgres(url) ? await postgresDialect(url) : await libsqlDialect(url, shown)
  // No worker and no jobs: this instance only reads and administers runs. Reads go through
  // durably's own API; `withLogPersistence()` lets the dashboard's GET /logs answer (nothing
  // in this process writes logs).
  const durably = createDurably({ dialect }).use(withLogPersistence())
  try {
    await sql`select 1`.execute(durably.db)
  } catch (error) {
    await durably.destroy().catch(() => undefined)
    throw new CliError(`cannot open ${shown}: ${firstLine(error)}`)
  }
  try {
    await durably.db.selectFrom('durably_runs').select('id').limit(1).execute()
    await durably.db.selectFrom('durably_schema_versions').select('version').limit(1).execute()
  } catch (error) {
    await durably.destroy().catch(() => undefined)
    if (/no such table|does not exist/i.test(firstLine(error))) {
      throw new CliError(`${shown} has no durably tables (is it the database your app uses?)`)
    }
    throw new CliError(`cannot read ${shown}: ${firstLine(error)}`)
  }
  return { durably, shown }
}

function isPostgres(url: string): boolean {
  return /^postgres(ql)?:\/\//i.test(url)
}

async function postgresDialect(url: string): Promise<Dialect> {
  const pg = await load<{ default: { Pool: new (config: object) => unknown } }>(
    'pg',
    'PostgreSQL URLs need the "pg" driver: npm install pg',
  )
  const { PostgresDialect } = await import('kysely')
  const pool = pg.default.Pool
  return new PostgresDialect({
    pool: new pool({ connectionString: url, max: 4, connectionTimeoutMillis: 5000 }) as never,
  })
}

async function libsqlDialect(url: string, shown: string): Promise<Dialect> {
  const fileUrl = /^[a-z][a-z0-9+.-]*:/i.test(url) ? url : `file:${url}`
  if (fileUrl.startsWith('file:')) {
    const path = fileUrl.startsWith('file://') ? fileURLToPath(fileUrl) : fileUrl.slice(5)
    // libSQL would create a missing file: refuse before it can.
    if (!existsSync(path)) throw new CliError(`no database file at ${path}`)
  } else if (!/^(libsql|https?|wss?):/i.test(fileUrl)) {
    throw new CliError(`${shown} is not a database URL (file:, libsql:, postgres:// …)`)
  }
  const missing =
    'libSQL URLs need "@libsql/client" and "@libsql/kysely-libsql": npm install @libsql/client @libsql/kysely-libsql'
  const client = await load<{ createClient(config: { url: string }): unknown }>(
    '@libsql/client',
    missing,
  )
  const kyselyLibsql = await load<{ LibsqlDialect: new (config: { client: never }) => Dialect }>(
    '@libsql/kysely-libsql',
    missing,
  )
  return new kyselyLibsql.LibsqlDialect({ client: client.createClient({ url: fileUrl }) as never })
}

async function load<T>(name: string, missing: string): Promise<T> {
  try {
    return (await import(name)) as T
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') throw new CliError(missing)
    throw error
  }
}

function hidePassword(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^:/@]+):[^@]*@/i, '$1:***@')
}

export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n')[0]?.trim() || 'unknown error'
}
