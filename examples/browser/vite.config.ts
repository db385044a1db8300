import sqlocal from 'sqlocal/vite'
import { defineConfig } from 'vite'

// sqlocal's plugin sends the cross-origin isolation headers OPFS needs, on the dev server
// only, and keeps its worker out of dependency pre-bundling. `preview` sends them too, so
// `vite preview` keeps the database in OPFS rather than in memory (durably would warn).
// `tsconfigPaths` lets Vite read tsconfig `paths`: inside this repository
// examples/tsconfig.json maps `durably` to ../src; in your app it changes nothing.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [sqlocal()],
  preview: {
    headers: {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    },
  },
  resolve: { tsconfigPaths: true },
})
