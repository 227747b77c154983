#!/usr/bin/env node
// Pre-compresses the build: every text file (js, css, html, svg, json) in dist/ over 1 KB gets a
// brotli (quality 11) and a gzip (level 9) copy beside it, which the server sends by
// Accept-Encoding without compressing per request. Then prints the sizes, and what the watch page
// downloads (index.html + the entry's JS and CSS + the hls.js chunk) in total.
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { readdirSync, readFileSync, statSync, writeFileSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const TEXT = /\.(js|mjs|css|html|svg|json)$/;
const MIN = 1024;

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

const sizes = new Map();
for (const file of walk(dist)) {
  if (/\.(br|gz)$/.test(file)) {
    // A stale variant of a file that is gone (or will be rewritten below).
    if (!statSync(file.replace(/\.(br|gz)$/, ''), { throwIfNoEntry: false })) unlinkSync(file);
    continue;
  }
  const body = readFileSync(file);
  const entry = { raw: body.length, gz: body.length, br: body.length };
  if (TEXT.test(file) && body.length > MIN) {
    const br = brotliCompressSync(body, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
        [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      },
    });
    const gz = gzipSync(body, { level: 9 });
    writeFileSync(`${file}.br`, br);
    writeFileSync(`${file}.gz`, gz);
    entry.br = br.length;
    entry.gz = gz.length;
  }
  sizes.set(path.relative(dist, file), entry);
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`.padStart(10);
const rows = [...sizes.entries()].sort((a, b) => b[1].raw - a[1].raw);
console.log(`${'file'.padEnd(44)}${'raw'.padStart(10)}${'gzip'.padStart(10)}${'brotli'.padStart(10)}`);
for (const [name, s] of rows) console.log(`${name.padEnd(44)}${kb(s.raw)}${kb(s.gz)}${kb(s.br)}`);

// The watch page: index.html, what it links (entry JS, CSS) and the chunks the entry imports
// (hls.js among them).
const html = readFileSync(path.join(dist, 'index.html'), 'utf8');
const linked = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+)"/g)].map((m) => m[1]);
const page = new Set(['index.html', ...linked.filter((f) => sizes.has(f))]);
for (const f of [...page]) {
  if (!f.endsWith('.js')) continue;
  const js = readFileSync(path.join(dist, f), 'utf8');
  for (const m of js.matchAll(/["'`](?:\.\/|\/assets\/)?((?:assets\/)?[\w.-]+-[\w-]{8}\.js)["'`]/g)) {
    const name = m[1].startsWith('assets/') ? m[1] : `assets/${m[1]}`;
    if (sizes.has(name)) page.add(name);
  }
}
const total = { raw: 0, gz: 0, br: 0 };
for (const f of page) for (const k of ['raw', 'gz', 'br']) total[k] += sizes.get(f)[k];
console.log(`${'watch page total'.padEnd(44)}${kb(total.raw)}${kb(total.gz)}${kb(total.br)}`);
console.log(`  (${[...page].join(', ')})`);
const BUDGET = 300 * 1024;
if (total.gz > BUDGET) {
  console.error(`compress.mjs: the watch page is ${kb(total.gz).trim()} gzipped, over the 300 KB budget`);
  process.exit(1);
}
