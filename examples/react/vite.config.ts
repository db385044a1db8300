import { getRequestListener } from '@hono/node-server'
import { defineConfig, type Plugin } from 'vite'

const API = '/api/durably'

/**
 * Serves durably's HTTP handler at /api/durably on Vite's dev server, so `npx vite` runs the
 * page and its API together. The server module is loaded through Vite (`ssrLoadModule`), so
 * it resolves `durably` the way the page does.
 */
function durablyApi(): Plugin {
  return {
    name: 'durably-api',
    configureServer(server) {
      let loaded: Promise<typeof import('./server.js')> | undefined
      const load = () => {
        loaded ??= server.ssrLoadModule('/server.ts') as Promise<typeof import('./server.js')>
        return loaded
      }
      const listener = getRequestListener(async (request) => {
        const { handler } = await load()
        return handler.handle(request, API)
      })
      server.middlewares.use((req, res, next) => {
        if (req.url?.startsWith(`${API}/`)) void listener(req, res)
        else next()
      })
      // Stop the worker and close the database with the dev server.
      server.httpServer?.once('close', () => {
        void loaded?.then(({ durably }) => durably.destroy())
      })
    },
  }
}

// `tsconfigPaths` lets Vite read tsconfig `paths`: inside this repository tsconfig.json here
// maps `durably` and `durably/react` to ../../src; in your app it changes nothing.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [durablyApi()],
  resolve: { tsconfigPaths: true },
})
