import { defineConfig } from 'tsup'

export default defineConfig({
  // durably/react is its own entry: it imports only types from the core, so its files hold
  // the hooks alone, and nothing of React reaches those who import only `durably`.
  entry: { index: 'src/index.ts', react: 'src/react/index.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  // No source maps in the package: dist is unminified, readable ESM/CJS with the source's own
  // names, and the maps (with sourcesContent) were 495 of the 796 kB unpacked
  // (npm pack --dry-run: 212 kB packed before, 83 kB after).
  sourcemap: false,
  clean: true,
  target: 'es2022',
  platform: 'neutral',
  external: ['kysely', 'zod', 'react'],
})
