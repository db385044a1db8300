/**
 * Backend factories for the contract suite. Each gives a fresh, isolated database per call
 * and a cleanup. A backend that cannot run here says why in `unavailable`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import type { Dialect } from 'kysely'

export interface TestDatabase {
  dialect: Dialect
  /** Another dialect on the same database: a second process's view of it. */
  secondDialect(): Dialect
  /** Run raw SQL on the database outside durably (to corrupt rows, back-date heartbeats). */
  exec(sqlText: string, args?: unknown[]): Promise<Record<string, unknown>[]>
  cleanup(): Promise<void>
}

export interface Backend {
  name: string
  family: 'sqlite' | 'postgres'
  /** Set when this backend cannot run on this machine; the suite is skipped with this reason. */
  unavailable?: string
  create(): Promise<TestDatabase>
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `durably-${prefix}-`))
}

export const libsqlBackend: Backend = {
  name: 'libsql',
  family: 'sqlite',
  async create() {
    const dir = tempDir('libsql')
    const url = `file:${join(dir, 'test.db')}`
    const clients = [createClient({ url })]
    const raw = createClient({ url })
    await raw.execute('PRAGMA busy_timeout = 5000')
    return {
      dialect: new LibsqlDialect({ client: clients[0]! }),
      secondDialect() {
        const client = createClient({ url })
        clients.push(client)
        return new LibsqlDialect({ client })
      },
      async exec(sqlText, args = []) {
        const result = await raw.execute({ sql: sqlText, args: args as never })
        return result.rows.map((row) => ({ ...row }))
      },
      async cleanup() {
        for (const client of clients) client.close()
        raw.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
}
