// Vite builds the client into dist/ with content-hashed assets, then writes gzip and brotli
// copies of every compressible file next to it (the enclave binary embeds dist/ and serves the
// precompressed copy the browser accepts). No plugin dependency: Node's zlib does both.
import { defineConfig, type Plugin } from 'vite';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|txt|webmanifest|map)$/;

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

function precompress(): Plugin {
  let outDir = 'dist';
  return {
    name: 'enclave-precompress',
    apply: 'build',
    configResolved(c) {
      outDir = c.build.outDir;
    },
    closeBundle() {
      for (const file of walk(outDir)) {
        if (!COMPRESSIBLE.test(file)) continue;
        const data = readFileSync(file);
        if (data.length < 512) continue;
        const gz = gzipSync(data, { level: 9 });
        const br = brotliCompressSync(data, {
          params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
        });
        if (gz.length < data.length) writeFileSync(file + '.gz', gz);
        if (br.length < data.length) writeFileSync(file + '.br', br);
      }
    },
  };
}

// The dev server proxies the API to a running enclave (ENCLAVE_URL, default :8080). The server
// checks that cookie-borne changes come from its own origin, so the proxy presents that origin.
const target = process.env.ENCLAVE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    target: 'es2022',
    sourcemap: false,
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  plugins: [precompress()],
  server: {
    proxy: {
      '/api': {
        target,
        ws: true,
        changeOrigin: true,
        configure: (proxy) => {
          proxy.on('proxyReq', (req) => req.setHeader('origin', target));
          proxy.on('proxyReqWs', (req) => req.setHeader('origin', target));
        },
      },
    },
  },
});
