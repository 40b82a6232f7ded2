/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// During `vite dev`, API calls go to a running Pharos server.
const target = process.env.PHAROS_URL ?? 'http://127.0.0.1:9090';

export default defineConfig({
  // Relative asset URLs let the same build work under any --web.route-prefix.
  base: './',
  esbuild: { jsx: 'automatic' },
  server: {
    proxy: {
      '/api': { target, changeOrigin: true },
      '/-/': { target, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    chunkSizeWarningLimit: 1500,
  },
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
  },
});
