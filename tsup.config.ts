import { defineConfig } from 'tsup'

export default defineConfig([
  {
    // durably/react is its own entry: it imports only types and the leaves' lists from the
    // core, so its files hold the hooks alone, and nothing of React reaches those who import
    // only `durably`.
    // durably/otel likewise: @opentelemetry/api stays outside, an optional peer that only
    // those who import the plugin need.
    entry: { index: 'src/index.ts', react: 'src/react/index.ts', otel: 'src/otel/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    // No source maps in the package: dist is unminified, readable ESM/CJS with the source's own
    // names, and the maps (with sourcesContent) were 495 of the 796 kB unpacked
    // (npm pack --dry-run: 212 kB packed before, 83 kB after).
    sourcemap: false,
    // Keep the CLI's file: the two builds run side by side, and it is rewritten below.
    clean: ['!cli.js'],
    target: 'es2022',
    platform: 'neutral',
    external: ['kysely', 'zod', 'react', '@opentelemetry/api'],
  },
  {
    // The `durably` command (package.json "bin"): Node only, ESM, its shebang kept from the
    // source. The database drivers stay outside: it loads the one a URL needs from the app's
    // own node_modules.
    entry: { cli: 'src/cli/main.ts' },
    format: ['esm'],
    dts: false,
    sourcemap: false,
    clean: false,
    target: 'node20',
    platform: 'node',
    external: ['kysely', 'zod', 'pg', '@libsql/client', '@libsql/kysely-libsql'],
  },
])
