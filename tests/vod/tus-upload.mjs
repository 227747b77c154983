#!/usr/bin/env node
// Uploads a file to Ferrocast's tus 1.0 endpoint with tus-js-client, as a resumable client does.
// Run by the Rust end-to-end tests and bench/vod.sh; prints ONE JSON line on stdout.
//
//   node tests/vod/tus-upload.mjs FILE ENDPOINT VIDEO_ID TOKEN [--chunk-size BYTES]
//                                 [--abort-at FRACTION] [--resume URL]
//
// ENDPOINT, VIDEO_ID and TOKEN come from the `tus` object of POST /api/v1/videos (`endpoint`,
// `metadata.video`, `metadata.token`); they are sent as the creation's Upload-Metadata, with
// `filename`.
//
// --chunk-size BYTES  bytes per PATCH request (default: the whole file in one PATCH).
// --abort-at F        stops once the server has accepted at least F (0 < F < 1) of the file, on a
//                     chunk boundary, so the server's offset is exactly the bytes accepted; the
//                     chunk size is capped so that such a boundary exists before the end. Prints
//                     {"url", "offset"} and exits 3.
// --resume URL        continues the upload at URL from the offset the server reports (HEAD) and
//                     prints {"url", "resumed_from"}; an upload the server no longer has is an
//                     error (no new upload is created).
// Otherwise prints {"url"} when the upload is complete. Exit code 0 when complete, 3 when stopped
// by --abort-at, 1 on an error (the message on stderr), 2 on a usage error.

import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Upload } from 'tus-js-client';

const USAGE = 'usage: tus-upload.mjs FILE ENDPOINT VIDEO_ID TOKEN [--chunk-size BYTES] [--abort-at FRACTION] [--resume URL]';
function usage(msg) {
  process.stderr.write(`tus-upload.mjs: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      'chunk-size': { type: 'string' },
      'abort-at': { type: 'string' },
      resume: { type: 'string' },
    },
  });
} catch (e) {
  usage(e.message);
}
const [file, endpoint, video, token] = parsed.positionals;
if (!file || !endpoint || !video || !token || parsed.positionals.length > 4) usage('FILE ENDPOINT VIDEO_ID TOKEN are required');
const opts = parsed.values;
let size;
try {
  size = statSync(file).size;
} catch (e) {
  usage(`cannot read ${file}: ${e.message}`);
}
let chunkSize = Infinity;
if (opts['chunk-size'] !== undefined) {
  chunkSize = Number(opts['chunk-size']);
  if (!(Number.isInteger(chunkSize) && chunkSize > 0)) usage('--chunk-size must be a positive whole number of bytes');
}
let abortAt = null;
if (opts['abort-at'] !== undefined) {
  abortAt = Number(opts['abort-at']);
  if (!(abortAt > 0 && abortAt < 1)) usage('--abort-at must be between 0 and 1');
  // Two chunks fit in what is left after F: a chunk boundary falls in [F, 1) of the file.
  chunkSize = Math.min(chunkSize, Math.max(1, Math.floor(((1 - abortAt) * size) / 2)));
}

const done = (exitCode, fields) => {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
  process.exit(exitCode);
};

let resumedFrom = null;
const upload = new Upload(createReadStream(file), {
  // Resuming never falls back to a new upload: a gone upload is an error.
  endpoint: opts.resume === undefined ? endpoint : null,
  uploadUrl: opts.resume ?? null,
  metadata: { video, token, filename: path.basename(file) },
  uploadSize: size,
  chunkSize,
  // An error is the test's to see, not to be retried away.
  retryDelays: null,
  onChunkComplete(chunk, accepted, total) {
    resumedFrom ??= accepted - chunk;
    if (abortAt !== null && accepted >= abortAt * total && accepted < total) {
      upload.abort().then(() => done(3, { url: upload.url, offset: accepted }));
    }
  },
  onSuccess() {
    if (opts.resume === undefined) done(0, { url: upload.url });
    // No chunk at all: the server already had every byte.
    else done(0, { url: upload.url, resumed_from: resumedFrom ?? size });
  },
  onError(e) {
    process.stderr.write(`tus-upload.mjs: ${e.message}\n`);
    process.exit(1);
  },
});
upload.start();
