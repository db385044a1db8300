/** The durably instance the HTTP examples serve: one job on a libSQL file. */
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably, createDurablyHandler, defineJob } from 'durably'
import { z } from 'zod'

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

export const durably = createDurably({
  dialect: new LibsqlDialect({ url: 'file:http-example.db' }),
}).register({ greet })

export const BASE_PATH = '/api/durably'
export const handler = createDurablyHandler(durably, {
  // Replace with your own check (a session cookie, a bearer token).
  authorize: (request) => request.headers.get('x-demo-user') !== 'blocked',
})
