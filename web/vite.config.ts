// Vite builds the app into dist/: index.html and assets/[name]-[hash].[ext]; the server embeds it
// (crates/server/build.rs). `npm run dev` serves it with the API, playback, chat and metrics
// proxied to a Ferrocast server on 127.0.0.1:8080 (FERROCAST_DEV_TARGET overrides).
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

// No @types/node for one variable.
declare const process: { env: Record<string, string | undefined> };
const target = process.env.FERROCAST_DEV_TARGET || 'http://127.0.0.1:8080';

export default defineConfig({
  base: '/',
  plugins: [preact()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    sourcemap: false,
    // hls.js is one chunk of its own, loaded by the watch pages only.
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      output: {
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash].[ext]',
        // tus-js-client is loaded by the upload form only; named for what it is.
        manualChunks: { tus: ['tus-js-client'] },
      },
    },
  },
  server: {
    host: '127.0.0.1',
    port: 5173,
    proxy: {
      // The API, but not the /api/docs page, which is the app's.
      '^/api/(?!docs(?:$|[/?#]))': { target, changeOrigin: false },
      '/live': { target, changeOrigin: false },
      '/vod': { target, changeOrigin: false },
      '/chat': { target, ws: true, changeOrigin: false },
      '/metrics': { target, changeOrigin: false },
    },
  },
});
