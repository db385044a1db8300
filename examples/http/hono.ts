/**
 * durably mounted in a Hono app: one route forwards everything below the base path.
 *
 *   cd examples/http && npx tsx hono.ts
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { BASE_PATH, durably, handler } from './durably.js'

await durably.init()
const app = new Hono()
app.get('/', (c) => c.text('durably behind Hono: try GET /api/durably/runs'))
app.all(`${BASE_PATH}/*`, (c) => handler.handle(c.req.raw, BASE_PATH))

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) }, (info) => {
  console.log(`listening on http://127.0.0.1:${info.port}${BASE_PATH}`)
})

process.once('SIGTERM', () => {
  server.close()
  void durably.destroy()
})
