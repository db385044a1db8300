/**
 * Which SQL family a dialect speaks, decided from what its query compiler produces rather
 * than from class names (which bundlers and minifiers rewrite). No connection is opened.
 */
import { type Dialect, DummyDriver, Kysely } from 'kysely'
import type { FamilyName } from './family.js'
import type { Database } from './schema.js'

export function detectFamily(dialect: Dialect): FamilyName {
  const probe = new Kysely<Database>({
    dialect: {
      createAdapter: () => dialect.createAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => dialect.createIntrospector(db),
      createQueryCompiler: () => dialect.createQueryCompiler(),
    },
  })
  const { sql } = probe.selectFrom('durably_runs').select('id').where('id', '=', 'x').compile()
  return sql.includes('$1') ? 'postgres' : 'sqlite'
}
