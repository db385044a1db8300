import sqlocal from 'sqlocal/vite'
import { defineConfig } from 'vite'

// sqlocal's plugin sends the cross-origin isolation headers OPFS needs and keeps its worker
// out of dependency pre-bundling. `tsconfigPaths` lets Vite read tsconfig `paths`: inside this
// repository examples/tsconfig.json maps `durably` to ../src; in your app it changes nothing.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [sqlocal()],
  resolve: { tsconfigPaths: true },
})
