/**
 * The server side: a durably instance on a libSQL file and its HTTP handler. vite.config.ts
 * mounts the handler at /api/durably on the dev server; in production mount it the same way
 * in your server (Hono, React Router, node:http: see examples/http).
 */
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { createDurably, createDurablyHandler } from 'durably'
import { jobs } from './jobs.js'

const file = process.env.DURABLY_EXAMPLE_DB ?? 'react-example.db'

export const durably = createDurably({
  dialect: new LibsqlDialect({ client: createClient({ url: `file:${file}` }) }),
  pollingInterval: 200,
}).register(jobs)

export const handler = createDurablyHandler(durably, {
  // Migrate and start the worker on the first request.
  onRequest: () => durably.init(),
})
