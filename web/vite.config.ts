// Builds the dashboard into the Python package, so `pip install tessera` needs no Node.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  // Relative asset paths: the server may mount the dashboard under any prefix.
  base: "./",
  build: {
    outDir: "../src/tessera/server/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    // `npm run dev` against a running `tessera server` on the default port.
    proxy: { "/api": "http://127.0.0.1:8470" },
  },
});
