/**
 * durably over plain `node:http`. @hono/node-server's `getRequestListener` turns Node's
 * request into a Web `Request` and streams the `Response` back (SSE included).
 *
 *   cd examples/http && npx tsx node-http.ts
 *   curl -X POST localhost:3000/api/durably/trigger -d '{"jobName":"greet","input":{"name":"Ada"}}'
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { getRequestListener } from '@hono/node-server'
import { BASE_PATH, durably, handler } from './durably.js'

await durably.init()
const server = createServer(
  getRequestListener((request) =>
    new URL(request.url).pathname.startsWith(`${BASE_PATH}/`)
      ? handler.handle(request, BASE_PATH)
      : new Response('Not Found', { status: 404 }),
  ),
)
server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  console.log(`listening on http://127.0.0.1:${port}${BASE_PATH}`)
})

process.once('SIGTERM', () => {
  server.close()
  void durably.destroy()
})
