/**
 * One durably instance per process, all on one PostgreSQL database. The pool is also given
 * as `listen`: a run triggered anywhere wakes idle workers everywhere at once.
 */

import { createDurably, defineJob } from 'durably'
import { PostgresDialect } from 'kysely'
import pg from 'pg'
import { z } from 'zod'

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
// The example keeps its tables in a schema of its own so it never touches yours.
export const SCHEMA = 'durably_example'

export const resizeImage = defineJob({
  name: 'resize-image',
  input: z.object({ image: z.string(), tenant: z.string() }),
  output: z.object({ image: z.string(), worker: z.number() }),
  run: async (step, { image }) => {
    await step.run('download', () => wait(50))
    await step.run('resize', () => wait(100))
    await step.run('upload', () => wait(50))
    return { image, worker: process.pid }
  },
})

export function openDurably() {
  const pool = new pg.Pool({
    connectionString: DATABASE_URL,
    options: `-c search_path=${SCHEMA}`,
    max: 5,
  })
  const durably = createDurably({
    dialect: new PostgresDialect({ pool }),
    listen: pool,
    pollingInterval: 5000,
  }).register({ resizeImage })
  return { durably, pool }
}

export async function ensureSchema() {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  await client.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`)
  await client.end()
}

function wait(ms: number) {
  return new Promise<null>((resolve) => setTimeout(() => resolve(null), ms))
}
