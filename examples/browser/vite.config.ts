import sqlocal from 'sqlocal/vite'
import { defineConfig } from 'vite'

// sqlocal's plugin sends the cross-origin isolation headers OPFS needs and keeps its worker
// out of dependency pre-bundling.
export default defineConfig({
  root: import.meta.dirname,
  plugins: [sqlocal()],
})
