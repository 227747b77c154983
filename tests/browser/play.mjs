#!/usr/bin/env node
// Plays a live stream in a real browser (Debian's chromium, headless, driven by playwright-core)
// with hls.js (lowLatencyMode) or dash.js, and prints what a viewer got as ONE JSON line on stdout.
//
//   node tests/browser/play.mjs --player hls|dash [--seconds N] [--start-timeout S]
//        [--live-delay S] [--page-origin ORIGIN] [--chromium PATH] [--verbose] URL
//
//   --seconds N        how long to watch once the first frame played (default 8)
//   --start-timeout S  how long playback may take to start (default 20)
//   --live-delay S     override the player's target live delay (hls.js liveSyncDuration,
//                      dash.js streaming.delay.liveDelay); default: what the stream asks for
//   --page-origin O    serve the player page at another origin than the stream's, so that the
//                      browser enforces CORS; must be loopback too (http://localhost:PORT for a
//                      stream on 127.0.0.1), which is granted Local Network Access
//   --chromium PATH    the browser (default $CHROMIUM or /usr/bin/chromium)
//   --verbose          every browser console message on stderr
//
// The player page, the player library (from node_modules) and a clock for dash.js are answered
// by intercepting requests (page.route) at the page's origin; requests to the stream's origin go
// through; any other request is refused, so nothing leaves the machine.
//
// Output fields: ok, player, url, started_ms (from navigation start to the first frame
// presented), played_s (how far the playhead moved while watching, seeks excluded), stalls
// (`waiting` events after the start, not during a seek), stall_s (time spent in them),
// seek_waits (`waiting` events during a seek after the start), latency_s (hls.js `latency`,
// dash.js getCurrentLiveLatency()), target_latency_s, wallclock_latency_s (hls.js: now minus the
// playhead's PROGRAM-DATE-TIME; dash.js: as latency_s), levels [{height, width, bitrate}] the
// player was offered when the stream loaded (a different list at the end is noted on stderr;
// dash.js: each change of the MPD's periods and representations too), heights_played, errors
// (fatal), warnings (non-fatal player errors), video_size [w, h], frames, dropped_frames,
// wall_ms. Latencies are null before playback started.
// ok: playback started, played at least half of --seconds, and no fatal error.
// Exit code: 0 when ok, 1 otherwise, 2 on a usage error. Progress and player events go to stderr.

import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));

const USAGE =
  'usage: play.mjs --player hls|dash [--seconds N] [--start-timeout S] ' +
  '[--live-delay S] [--page-origin ORIGIN] [--chromium PATH] [--verbose] URL';

function usage(message) {
  process.stderr.write(`play.mjs: ${message}\n${USAGE}\n`);
  process.exit(2);
}

let opts;
try {
  opts = parseArgs({
    allowPositionals: true,
    options: {
      player: { type: 'string' },
      seconds: { type: 'string', default: '8' },
      'start-timeout': { type: 'string', default: '20' },
      'page-origin': { type: 'string' },
      'live-delay': { type: 'string' },
      chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
} catch (e) {
  usage(e.message);
}
if (opts.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const player = opts.values.player;
if (player !== 'hls' && player !== 'dash') usage('--player must be hls or dash');
const seconds = Number(opts.values.seconds);
if (!(seconds > 0 && seconds <= 3600)) usage('--seconds must be a number in (0, 3600]');
const startTimeout = Number(opts.values['start-timeout']);
if (!(startTimeout > 0 && startTimeout <= 600)) usage('--start-timeout must be in (0, 600]');
if (opts.positionals.length !== 1) usage('exactly one URL expected');
let mediaUrl;
try {
  mediaUrl = new URL(opts.positionals[0]);
} catch {
  usage(`not a URL: ${opts.positionals[0]}`);
}
if (mediaUrl.protocol !== 'http:' && mediaUrl.protocol !== 'https:') usage('the URL must be http(s)');
let pageOrigin = mediaUrl.origin;
if (opts.values['page-origin']) {
  try {
    pageOrigin = new URL(opts.values['page-origin']).origin;
  } catch {
    usage(`not an origin: ${opts.values['page-origin']}`);
  }
}
let liveDelay = null;
if (opts.values['live-delay'] !== undefined) {
  liveDelay = Number(opts.values['live-delay']);
  if (!(liveDelay > 0 && liveDelay <= 120)) usage('--live-delay must be in (0, 120]');
}
const verbose = opts.values.verbose;

const started = Date.now();
const log = (msg) => process.stderr.write(`play.mjs +${Date.now() - started}ms ${msg}\n`);

// The browser builds, straight from node_modules (npm ci in this directory installs them).
const LIBS = {
  hls: path.join(here, 'node_modules/hls.js/dist/hls.min.js'),
  dash: path.join(here, 'node_modules/dashjs/dist/modern/umd/dash.all.min.js'),
};
if (!existsSync(LIBS[player])) {
  process.stderr.write(`play.mjs: ${LIBS[player]} missing: run npm ci in ${here} (scripts/deps.sh test does)\n`);
  process.exit(2);
}
const PREFIX = '/__ferrocast_player';
const pageUrl = `${pageOrigin}${PREFIX}/index.html`;
const libUrl = `${pageOrigin}${PREFIX}/${player}.js`;
const clockUrl = `${pageOrigin}${PREFIX}/now`;

// The page: a muted video, the player library, and a small recorder of what the viewer gets.
// Everything it measures lives in window.__fc; report() summarises it.
function pageHtml() {
  const config = JSON.stringify({ player, url: mediaUrl.href, clock: clockUrl, liveDelay });
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>ferrocast player</title></head>
<body style="margin:0;background:#000">
<video id="v" muted autoplay playsinline style="width:640px;height:360px"></video>
<script src="${libUrl}"></script>
<script>
(() => {
  const cfg = ${config};
  const video = document.getElementById('v');
  video.muted = true;
  const fc = (window.__fc = {
    startedAt: null, stalls: 0, stallS: 0, stallSince: null, seekWaits: 0, errors: [], warnings: [],
    heights: [], events: [], levels: [], finalLevels: null, latency: () => null, targetLatency: () => null,
    wallclockLatency: () => null,
  });
  const now = () => performance.now();
  const note = (msg) => { fc.events.push(Math.round(now()) + 'ms ' + msg); };
  const fatal = (msg) => { fc.errors.push(String(msg)); note('FATAL ' + msg); };
  const warn = (msg) => { if (fc.warnings.length < 50) fc.warnings.push(String(msg)); note('warning ' + msg); };
  const endStall = () => {
    if (fc.stallSince !== null) { fc.stallS += (now() - fc.stallSince) / 1000; fc.stallSince = null; }
  };
  const markStarted = (how) => {
    if (fc.startedAt !== null) return;
    fc.startedAt = now();
    note('started (' + how + ') at currentTime ' + video.currentTime.toFixed(3));
  };
  video.addEventListener('playing', () => {
    note('playing');
    endStall();
    if (fc.startedAt === null && 'requestVideoFrameCallback' in video) {
      // The first frame actually presented after playback began.
      video.requestVideoFrameCallback(() => markStarted('first frame'));
      // Headless compositing may not call back: the clock moving counts too.
      const t0 = video.currentTime;
      const tick = () => {
        if (fc.startedAt !== null) return;
        if (video.currentTime > t0 && !video.paused) markStarted('time advanced'); else setTimeout(tick, 50);
      };
      tick();
    } else {
      markStarted('playing');
    }
  });
  // A stall: the buffer ran dry while playing. Waiting for the data at a new position right
  // after a seek (the player jumping to its live sync point, say) is counted apart.
  video.addEventListener('waiting', () => {
    note('waiting at ' + video.currentTime.toFixed(3) + (video.seeking ? ' (seeking)' : ''));
    if (fc.startedAt === null || fc.stallSince !== null) return;
    if (video.seeking) { fc.seekWaits += 1; return; }
    fc.stalls += 1;
    fc.stallSince = now();
  });
  video.addEventListener('seeking', () => note('seeking to ' + video.currentTime.toFixed(3)));
  // How far the playhead moved while watching, seeks excluded (video.played would count a
  // live player's initial jump to the live edge).
  fc.played = 0;
  let last = null;
  const sample = () => {
    if (fc.startedAt === null || video.seeking) { last = null; return; }
    const t = video.currentTime;
    if (last !== null && t > last && t - last < 1) fc.played += t - last;
    last = t;
  };
  setInterval(sample, 100);
  video.addEventListener('timeupdate', sample);
  video.addEventListener('seeked', () => { last = video.currentTime; });
  video.addEventListener('resize', () => {
    note('video size ' + video.videoWidth + 'x' + video.videoHeight);
    if (!fc.heights.includes(video.videoHeight)) fc.heights.push(video.videoHeight);
  });
  video.addEventListener('error', () => {
    const e = video.error;
    fatal('video element: ' + (e ? e.code + ' ' + e.message : 'unknown'));
  });
  const play = () => video.play().catch((e) => warn('play(): ' + e));

  if (cfg.player === 'hls') {
    if (!window.Hls || !Hls.isSupported()) { fatal('hls.js unsupported in this browser'); return; }
    const hlsConfig = { lowLatencyMode: true };
    if (cfg.liveDelay !== null) hlsConfig.liveSyncDuration = cfg.liveDelay;
    const hls = new Hls(hlsConfig);
    window.__player = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, (_, d) => {
      fc.levels = d.levels.map((l) => ({ height: l.height, width: l.width, bitrate: l.bitrate }));
      note('manifest: ' + d.levels.length + ' levels');
      play();
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => note('level switched to ' + d.level));
    hls.on(Hls.Events.ERROR, (_, d) => {
      const msg = d.type + ': ' + d.details + (d.response && d.response.code ? ' (HTTP ' + d.response.code + ')' : '') +
        (d.url ? ' ' + d.url : '') + (d.error && d.error.message ? ' ' + d.error.message : '');
      if (d.fatal) fatal(msg); else warn(msg);
    });
    fc.finalLevels = () => hls.levels.map((l) => ({ height: l.height, width: l.width, bitrate: l.bitrate }));
    fc.latency = () => (Number.isFinite(hls.latency) ? hls.latency : null);
    fc.targetLatency = () => (Number.isFinite(hls.targetLatency) ? hls.targetLatency : null);
    // Behind the wall clock: now minus the playhead's EXT-X-PROGRAM-DATE-TIME.
    fc.wallclockLatency = () => (hls.playingDate ? (Date.now() - hls.playingDate.getTime()) / 1000 : null);
    hls.attachMedia(video);
    hls.loadSource(cfg.url);
  } else {
    if (!window.dashjs) { fatal('dash.js did not load'); return; }
    const p = dashjs.MediaPlayer().create();
    window.__player = p;
    p.updateSettings({
      debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING },
      // Without a UTCTiming element in the MPD dash.js would ask a clock on the internet; ask
      // this script instead (same machine as the server, so the same clock).
      streaming: {
        ...(cfg.liveDelay !== null ? { delay: { liveDelay: cfg.liveDelay } } : {}),
        utcSynchronization: {
          defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-iso:2014', value: cfg.clock },
        },
      },
    });
    const E = dashjs.MediaPlayer.events;
    // What each MPD (re)load lists, noted when it changes.
    let lastListing = '';
    p.on(E.MANIFEST_LOADED, (e) => {
      const periods = (e.data && e.data.Period) || [];
      const listing = periods.map((period) => (period.AdaptationSet || [])
        .map((as) => (as.contentType || as.mimeType || '?') + '[' +
          (as.Representation || []).map((r) => r.id).join(',') + ']').join(' ')).join(' | ');
      if (listing !== lastListing) note('MPD: ' + periods.length + ' period(s): ' + listing);
      lastListing = listing;
    });
    const videoLevels = () => (p.getRepresentationsByType('video') || [])
      .map((r) => ({ height: r.height, width: r.width, bitrate: r.bandwidth }));
    p.on(E.STREAM_INITIALIZED, () => {
      fc.levels = videoLevels();
      note('stream initialized: ' + fc.levels.length + ' video representations');
    });
    fc.finalLevels = videoLevels;
    p.on(E.QUALITY_CHANGE_RENDERED, (e) => {
      if (e.mediaType === 'video') note('quality rendered ' + (e.newRepresentation ? e.newRepresentation.id : ''));
    });
    p.on(E.ERROR, (e) => {
      const err = e.error || {};
      fatal('dash.js error ' + (err.code !== undefined ? err.code + ' ' : '') + (err.message || JSON.stringify(err)));
    });
    p.on(E.PLAYBACK_ERROR, (e) => fatal('dash.js playback error ' + JSON.stringify(e.error || e)));
    fc.latency = () => { const l = p.getCurrentLiveLatency(); return Number.isFinite(l) ? l : null; };
    fc.wallclockLatency = fc.latency; // dash.js measures against the wall clock already
    fc.targetLatency = () => { const l = p.getTargetLiveDelay(); return Number.isFinite(l) ? l : null; };
    p.initialize(video, cfg.url, true);
    video.addEventListener('canplay', play, { once: true });
  }

  window.__report = () => {
    endStall(); // an open stall counts up to now
    sample();
    if (fc.finalLevels) {
      const heights = (levels) => levels.map((l) => l.height).join(',');
      const now = fc.finalLevels();
      if (heights(now) !== heights(fc.levels)) note('video levels at the end: ' + heights(now));
    }
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    return {
      started_ms: fc.startedAt === null ? null : Math.round(fc.startedAt),
      played_s: fc.played,
      stalls: fc.stalls,
      stall_s: fc.stallS,
      seek_waits: fc.seekWaits,
      latency_s: fc.startedAt === null ? null : fc.latency(),
      target_latency_s: fc.startedAt === null ? null : fc.targetLatency(),
      wallclock_latency_s: fc.startedAt === null ? null : fc.wallclockLatency(),
      levels: fc.levels,
      heights_played: fc.heights,
      errors: fc.errors,
      warnings: fc.warnings,
      video_size: [video.videoWidth, video.videoHeight],
      frames: q ? q.totalVideoFrames : null,
      dropped_frames: q ? q.droppedVideoFrames : null,
      events: fc.events,
    };
  };
})();
</script></body></html>`;
}

const result = {
  ok: false,
  player,
  url: mediaUrl.href,
  started_ms: null,
  played_s: 0,
  stalls: 0,
  stall_s: 0,
  seek_waits: 0,
  latency_s: null,
  target_latency_s: null,
  wallclock_latency_s: null,
  levels: [],
  heights_played: [],
  errors: [],
  warnings: [],
  video_size: [0, 0],
  frames: null,
  dropped_frames: null,
  wall_ms: 0,
};

function finish(code) {
  result.wall_ms = Date.now() - started;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = code;
}

// A hard stop in case the browser hangs: the caller always gets its line.
const hardStop = setTimeout(
  () => {
    result.errors.push('play.mjs: overall timeout');
    finish(1);
    process.exit(1);
  },
  (startTimeout + seconds + 30) * 1000,
);
hardStop.unref();

let browser;
try {
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: opts.values.chromium,
    headless: true,
    args: [
      '--no-sandbox', // a container's root user has no usable sandbox
      '--autoplay-policy=no-user-gesture-required',
      '--disable-dev-shm-usage',
      '--mute-audio',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  log(`chromium ${browser.version()} launched; page ${pageUrl}`);
  // A page from another origin reaching a server on loopback needs Local Network Access.
  const crossOrigin = pageOrigin !== mediaUrl.origin;
  const context = await browser.newContext(crossOrigin ? { permissions: ['local-network-access'] } : {});
  const page = await context.newPage();
  page.on('pageerror', (e) => result.errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (verbose || m.type() === 'error' || m.type() === 'warning') log(`console.${m.type()}: ${m.text()}`);
  });
  page.on('requestfailed', (r) => {
    if (verbose || !r.url().includes(PREFIX)) log(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  // The page, the library and a clock are answered here; the media server's origin goes
  // through; anything else (a player's default clock on the internet, say) is refused.
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url === pageUrl) return route.fulfill({ status: 200, contentType: 'text/html', body: pageHtml() });
    if (url === libUrl) return route.fulfill({ status: 200, contentType: 'text/javascript', path: LIBS[player] });
    if (url.split('?')[0] === clockUrl) {
      return route.fulfill({
        status: 200,
        contentType: 'text/plain',
        headers: { 'access-control-allow-origin': '*', 'cache-control': 'no-store' },
        body: new Date().toISOString(),
      });
    }
    if (url.startsWith(`${pageOrigin}${PREFIX}/`)) return route.fulfill({ status: 404, body: 'not found' });
    const origin = new URL(url).origin;
    if (origin === mediaUrl.origin || origin === pageOrigin) return route.continue();
    log(`refused a request off the media server: ${url}`);
    return route.abort('blockedbyclient');
  });
  await page.goto(pageUrl, { waitUntil: 'load' });

  // Wait for the first frame, or a fatal error, or the start timeout.
  const startDeadline = Date.now() + startTimeout * 1000;
  let state = { started: false, fatal: false };
  while (Date.now() < startDeadline) {
    state = await page.evaluate(() => ({
      started: window.__fc.startedAt !== null,
      fatal: window.__fc.errors.length > 0,
    }));
    if (state.started || state.fatal) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (state.started) {
    log(`playing; watching ${seconds}s`);
    const watchEnd = Date.now() + seconds * 1000;
    while (Date.now() < watchEnd) {
      const fatal = await page.evaluate(() => window.__fc.errors.length > 0);
      if (fatal) break;
      await new Promise((r) => setTimeout(r, Math.min(250, Math.max(0, watchEnd - Date.now()))));
    }
  } else if (!state.fatal) {
    result.errors.push(`playback did not start within ${startTimeout}s`);
  }
  const report = await page.evaluate(() => window.__report());
  for (const line of report.events) log(`page ${line}`);
  delete report.events;
  result.errors = [...result.errors, ...report.errors];
  delete report.errors;
  Object.assign(result, report);
  result.played_s = Math.round(result.played_s * 1000) / 1000;
  result.stall_s = Math.round(result.stall_s * 1000) / 1000;
  for (const k of ['latency_s', 'target_latency_s', 'wallclock_latency_s']) {
    if (result[k] !== null) result[k] = Math.round(result[k] * 1000) / 1000;
  }
  result.ok = result.started_ms !== null && result.played_s >= seconds / 2 && result.errors.length === 0;
} catch (e) {
  result.errors.push(`play.mjs: ${e && e.message ? e.message.split('\n')[0] : e}`);
  log(String(e && e.stack ? e.stack : e));
} finally {
  if (browser) await browser.close().catch(() => {});
}
clearTimeout(hardStop);
finish(result.ok ? 0 : 1);
