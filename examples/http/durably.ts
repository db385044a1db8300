/** The durably instance the HTTP examples serve: one job on a libSQL file. */
import { mkdirSync } from 'node:fs'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { z } from 'zod'
import { createDurably, createDurablyHandler, defineJob } from '../../src/index.js'

const greet = defineJob({
  name: 'greet',
  input: z.object({ name: z.string().min(1) }),
  output: z.object({ greeting: z.string() }),
  run: async (step, { name }) => {
    const greeting = await step.run('compose', () => `Hello, ${name}!`)
    step.progress(1, 1)
    return { greeting }
  },
})

mkdirSync('.tmp', { recursive: true })
export const durably = createDurably({
  dialect: new LibsqlDialect({ client: createClient({ url: 'file:.tmp/http-example.db' }) }),
}).register({ greet })

export const BASE_PATH = '/api/durably'
export const handler = createDurablyHandler(durably, {
  // Replace with your own check (a session cookie, a bearer token).
  authorize: (request) => request.headers.get('x-demo-user') !== 'blocked',
})
