#!/usr/bin/env node
// Drives Ferrocast's web pages (web/, docs/WEB.md) in Debian's chromium (headless, playwright-core)
// the way people use them, and prints what happened as ONE JSON line on stdout. Meant to be run
// by the Rust end-to-end tests, which start the server (and ffmpeg) first.
//
//   node tests/browser/webapp.mjs watch    BASE CHANNEL [--seconds 10] [--shots DIR] [--no-switch]
//   node tests/browser/webapp.mjs reconnect BASE CHANNEL [--shots DIR]
//   node tests/browser/webapp.mjs chat     BASE CHANNEL --user NAME --password PW
//   node tests/browser/webapp.mjs moderate BASE CHANNEL --streamer NAME --password PW
//   node tests/browser/webapp.mjs modes    BASE CHANNEL --streamer NAME --user NAME --password PW
//   node tests/browser/webapp.mjs accounts BASE
//   node tests/browser/webapp.mjs studio   BASE --user NAME --password PW --channel NAME [--shots DIR]
//   node tests/browser/webapp.mjs shots    BASE CHANNEL --dir DIR [--user NAME --password PW]
//   node tests/browser/webapp.mjs vod      BASE VIDEO_ID [--user NAME --password PW] [--shots DIR]
//
// Common options: --timeout S (how long any one wait may take, default 30), --chromium PATH
// (default $CHROMIUM or /usr/bin/chromium), --verbose (browser console on stderr).
//
// watch: opens BASE/CHANNEL, waits for playback (window.__fc.startupMs), watches for --seconds,
//   then (unless --no-switch) picks the lowest rendition in the quality menu and checks that
//   hls.js switched to it and that playback went on. Fields: started, startup_ms, played_s,
//   levels (the menu's options, Auto first: [{value, label, height, bitrate}], Auto's value "-1"
//   with null height and bitrate), hls_levels, selected ({value, label}), switched (hls's
//   loadLevel/currentLevel equal the choice), level_after, played_after_switch_s,
//   video_height_after, latency_text (what the page shows), latency_s (hls.latency),
//   stalls (how many times playback stalled during the N seconds of steady playback, after
//   startup and before the rendition switch: what a viewer who just watches gets),
//   stalls_after_switch (stalls from the switch on: hls.js flushes the buffer for a chosen
//   rendition, which may stall once; 0 with --no-switch), page_bytes {encoded, decoded, count}
//   (what the watch page itself transferred, from the Resource Timing entries: the navigation
//   plus its same-origin scripts, styles and what they load (initiator script, link or css, or a
//   .js/.css path); playlists, segments, API calls and images left out; encoded = the bytes as
//   sent, compressed, decoded = after decompression, count = entries summed), screenshot.
//   --no-switch skips the rendition switch (benchmarks: selected null, switch_skipped says so).
// reconnect: watches the live channel, then prints the step "playing: stop the publisher" on
//   stderr and waits for the offline state; then prints "offline: start the publisher again" and
//   waits until the page plays 3 s again, without a reload. The caller (the Rust test) stops and
//   restarts ffmpeg on those lines. Fields: played_before_s, offline_after_ms, offline_text,
//   played_after_s, resumed_after_ms; offline.png with --shots.
// chat: a guest (joins with a name) and a signed-in user (logs in through /login; signs up
//   through /signup when the login is refused) each send a message and wait for the other's.
//   Fields: guest {name, sent, saw, saw_other}, user {name, role, sent, saw, saw_other},
//   signed_up, escaped_ok (a message with < > & " ' shows as typed).
// moderate: the streamer (signed in) times out a guest from the Timeout button of the guest's
//   message (reason "webapp test"); the guest then tries to post. Fields: streamer_role,
//   guest_name, hidden_for_streamer (the guest's message left the streamer's view),
//   system_line, guest_error (the text under the guest's input).
// modes: the streamer (signed in, owns CHANNEL) turns followers-only on from the chat's mode bar;
//   a signed-in account that does not follow (--user, same --password) tries to post and reads
//   the refusal; it clicks Follow on the watch page and posts the same text without a reload;
//   then the streamer turns guests off and a new visitor sees "Log in to chat" instead of the
//   name form. Fields: refusal, posted_after_follow, visitor_text.
// accounts: signs up a new account at /signup, logs out, logs in with a wrong password (the
//   error shown: wrong_password_error), logs in right, then POSTs without X-CSRF-Token from the
//   page (csrf_refused_status, expected 403) and with it (with_csrf_status).
// studio: logs in (signing up when refused), creates CHANNEL in /studio, reveals the stream key
//   (key1), rotates it and reveals the new one (key2), screenshots studio.png. Fields: key1,
//   key2, ingest_url.
// shots: screenshots the directory (directory.png), the watch page (watch.png), the API docs
//   (api-docs.png), the login page (login.png), the studio (studio.png; signed in with --user,
//   else whatever /studio shows a visitor) and, at 360 px wide, directory-phone.png,
//   watch-phone.png and studio-phone.png. Fields: pages {NAME: {url, console_errors, overflow_px (phone: page wider
//   than the screen)}}.
// vod: opens BASE/videos/VIDEO_ID (a ready video; logged in first with --user, for a private
//   one), waits until the video has played past 1 s, reads the quality menu and compares it with
//   the API's renditions (GET /api/v1/videos/ID, from the page), and reads the Download link.
//   Fields: startup_ms (page load to currentTime > 1 s), played_s, poster (the video's poster
//   URL), levels (the menu's options, as for watch, plus name), renditions (the API's: [{name,
//   height, bandwidth}]), missing_renditions (API renditions no option has the height of),
//   download_url (the link's path and query), screenshot (vod.png with --shots).
//
// Every subcommand reports console_errors (console.error messages and uncaught page errors, with
// the URL for failed loads), expected_errors (failed loads the scenario causes on purpose: a
// wrong password's 401, the CSRF probe's 403, the 401 of logging in to an account that is then
// signed up), foreign_requests (anything the pages tried to load from another
// origin: refused), ok, error (what was missing when not ok), step (where it stopped) and
// wall_ms. Exit code 0 when ok, 1 otherwise, 2 on a usage error.

import { parseArgs } from 'node:util';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

const USAGE = `usage: webapp.mjs watch|reconnect|chat|moderate|modes|accounts|studio|shots|vod BASE [CHANNEL|VIDEO_ID] [options] (see the header)`;
function usage(msg) {
  process.stderr.write(`webapp.mjs: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    allowPositionals: true,
    options: {
      seconds: { type: 'string', default: '10' },
      shots: { type: 'string' },
      dir: { type: 'string' },
      user: { type: 'string' },
      password: { type: 'string' },
      streamer: { type: 'string' },
      channel: { type: 'string' },
      timeout: { type: 'string', default: '30' },
      chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
      verbose: { type: 'boolean', default: false },
      'no-switch': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
} catch (e) {
  usage(e.message);
}
const opts = parsed.values;
if (opts.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const [command, baseArg, channelArg] = parsed.positionals;
const COMMANDS = ['watch', 'reconnect', 'chat', 'moderate', 'modes', 'accounts', 'studio', 'shots', 'vod'];
if (!COMMANDS.includes(command)) usage(`unknown subcommand ${command ?? '(none)'}`);
if (!baseArg) usage('BASE (http://HOST:PORT) is required');
let BASE;
try {
  BASE = new URL(baseArg).origin;
} catch {
  usage(`not a URL: ${baseArg}`);
}
const needsChannel = ['watch', 'chat', 'moderate', 'shots'];
if (needsChannel.includes(command) && !channelArg) usage(`${command} needs CHANNEL`);
if (command === 'vod' && !channelArg) usage('vod needs VIDEO_ID');
const CHANNEL = channelArg;
const WAIT = Number(opts.timeout) * 1000;
if (!(WAIT > 0)) usage('--timeout must be a positive number of seconds');
const SECONDS = Number(opts.seconds);
if (!(SECONDS > 0 && SECONDS <= 600)) usage('--seconds must be in (0, 600]');

const started = Date.now();
const log = (msg) => process.stderr.write(`webapp.mjs +${Date.now() - started}ms ${msg}\n`);

const result = {
  ok: false,
  command,
  base: BASE,
  step: 'start',
  error: null,
  console_errors: [],
  expected_errors: [],
  foreign_requests: [],
};
let finished = false;
function finish(ok, error = null) {
  if (finished) return;
  finished = true;
  result.ok = ok;
  if (error) result.error = error;
  result.wall_ms = Date.now() - started;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exitCode = ok ? 0 : 1;
}
/** A failure with the reason: the JSON says what was missing at which step. */
class Missing extends Error {}
const fail = (msg) => {
  throw new Missing(msg);
};
const step = (name) => {
  result.step = name;
  log(`step: ${name}`);
};

const hardStop = setTimeout(
  () => {
    finish(false, `overall timeout at step ${result.step}`);
    process.exit(1);
  },
  WAIT * 6 + SECONDS * 1000 + 60000,
);
hardStop.unref();

const rand = () => Math.random().toString(36).slice(2, 8);
const tid = (id) => `[data-testid="${id}"]`;

let browser;

// Failed loads the scenario causes on purpose (a wrong password's 401, the CSRF probe's 403): the
// browser logs them as console errors; they are reported under expected_errors instead.
const expectations = [];
/** The next failed load of a URL matching `re` with `status` is part of the scenario. */
function expectFailure(re, status) {
  expectations.push({ re, status });
}
function isExpected(text, url) {
  const m = /status of (\d+)/.exec(text);
  if (!m || !url) return false;
  const status = Number(m[1]);
  const i = expectations.findIndex((e) => e.status === status && e.re.test(url));
  if (i < 0) return false;
  expectations.splice(i, 1);
  return true;
}

/** A page with console and request watchers; `label` names it in console_errors. */
async function newPage(context, label) {
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('console', (m) => {
    if (opts.verbose) log(`[${label}] console.${m.type()}: ${m.text()}`);
    if (m.type() === 'error') {
      const loc = m.location();
      const where = loc && loc.url && !m.text().includes(loc.url) ? ` (${loc.url})` : '';
      const line = `[${label}] ${m.text()}${where}`;
      if (isExpected(m.text(), loc && loc.url)) result.expected_errors.push(line);
      else result.console_errors.push(line);
    }
  });
  page.on('pageerror', (e) => result.console_errors.push(`[${label}] page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (opts.verbose) log(`[${label}] request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith('data:') || url.startsWith('blob:')) return route.continue();
    let origin;
    try {
      origin = new URL(url).origin;
    } catch {
      return route.continue();
    }
    if (origin === BASE) return route.continue();
    result.foreign_requests.push(url);
    return route.abort('blockedbyclient');
  });
  return page;
}

async function newContext(viewport = { width: 1280, height: 800 }) {
  return browser.newContext({ viewport, permissions: [] });
}

async function text(page, selector) {
  const el = await page.$(selector);
  return el ? (await el.textContent())?.trim() ?? '' : null;
}

/** Waits until the element's text is not empty; returns it. */
async function waitText(page, selector, what, timeout = WAIT) {
  try {
    const handle = await page.waitForFunction(
      (sel) => {
        const el = document.querySelector(sel);
        const t = el && el.textContent ? el.textContent.trim() : '';
        return t || null;
      },
      selector,
      { timeout },
    );
    return await handle.jsonValue();
  } catch {
    fail(`${what}: no text in ${selector} within ${timeout / 1000} s`);
  }
  return '';
}

async function waitFor(page, selector, what, timeout = WAIT, state = 'visible') {
  try {
    return await page.waitForSelector(selector, { timeout, state });
  } catch {
    const url = page.url();
    const error = await text(page, `${tid('form-error')}, .error-line, ${tid('chat-error')}`).catch(() => null);
    fail(`${what}: ${selector} not ${state} within ${timeout / 1000} s (page ${url}${error ? `; it shows: ${error}` : ''})`);
  }
  return null;
}

async function shot(page, dir, name) {
  if (!dir) return null;
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  await page.screenshot({ path: file, fullPage: false });
  return file;
}

/** Logs in through /login (then lands on `next`); signs up through /signup when refused. */
async function login(page, name, password, next) {
  await page.goto(`${BASE}/login?next=${encodeURIComponent(next)}`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, tid('login-name'), 'the login form');
  await page.fill(tid('login-name'), name);
  await page.fill(tid('login-password'), password);
  // An unknown account is refused (401), and then signed up: not an error of the page's.
  const expected = { re: /\/api\/v1\/auth\/login$/, status: 401 };
  expectations.push(expected);
  await page.click(tid('login-submit'));
  const outcome = await Promise.race([
    page.waitForSelector(tid('nav-user'), { timeout: WAIT, state: 'attached' }).then(() => 'in'),
    page
      .waitForFunction((sel) => (document.querySelector(sel)?.textContent || '').trim() !== '', tid('form-error'), { timeout: WAIT })
      .then(() => 'refused'),
  ]).catch(() => 'timeout');
  if (outcome === 'in') {
    const i = expectations.indexOf(expected);
    if (i >= 0) expectations.splice(i, 1);
    return { signed_up: false };
  }
  if (outcome === 'timeout') fail(`logging in as ${name}: neither signed in nor an error within ${WAIT / 1000} s`);
  const refusal = await text(page, tid('form-error'));
  log(`login refused (${refusal}); signing up ${name}`);
  await page.goto(`${BASE}/signup?next=${encodeURIComponent(next)}`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, tid('login-name'), 'the signup form');
  await page.fill(tid('login-name'), name);
  await page.fill(tid('login-password'), password);
  await page.click(tid('login-submit'));
  const ok = await page.waitForSelector(tid('nav-user'), { timeout: WAIT, state: 'attached' }).then(
    () => true,
    () => false,
  );
  if (!ok) fail(`login refused (${refusal}) and signing up failed: ${(await text(page, tid('form-error'))) || 'no message'}`);
  return { signed_up: true };
}

/** Opens the watch page and joins the chat as a guest; returns the name used. */
async function joinAsGuest(page, base) {
  await page.goto(`${BASE}/${encodeURIComponent(CHANNEL)}`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, tid('chat-name'), 'the guest chat name field');
  for (let i = 0; i < 3; i++) {
    const name = `${base}${rand()}`.slice(0, 20);
    await page.fill(tid('chat-name'), name);
    await page.click(tid('chat-join'));
    const joined = await page
      .waitForSelector(`${tid('chat')}[data-joined="yes"]`, { timeout: WAIT })
      .then(() => true)
      .catch(() => false);
    if (joined) return name;
    const err = await text(page, tid('chat-error'));
    log(`guest join as ${name} failed: ${err}`);
    if (!(await page.$(tid('chat-name')))) break;
  }
  fail(`the guest could not join the chat: ${(await text(page, tid('chat-error'))) || 'no message'}`);
  return '';
}

async function chatSend(page, message) {
  await waitFor(page, `${tid('chat-input')}:not([disabled])`, 'the chat input');
  await page.fill(tid('chat-input'), message);
  await page.press(tid('chat-input'), 'Enter');
}

async function chatTexts(page) {
  return page.$$eval(`${tid('chat-log')} ${tid('chat-message')}`, (els) =>
    els.map((el) => ({
      user: el.getAttribute('data-user'),
      text: (el.querySelector('[data-testid="chat-text"]')?.textContent || '').trim(),
    })),
  );
}

async function waitChatText(page, needle, what) {
  try {
    await page.waitForFunction(
      (n) => [...document.querySelectorAll('[data-testid="chat-log"] [data-testid="chat-text"]')].some((el) => el.textContent === n),
      needle,
      { timeout: WAIT },
    );
    return true;
  } catch {
    return false;
  }
}

// ---- subcommands ---------------------------------------------------------------------------

/** Seconds of playback until `seconds` more have played (seeks and restarts excluded). */
async function playFor(page, seconds, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let played = 0;
  let last = null;
  while (played < seconds && Date.now() < deadline) {
    const now = await page
      .evaluate(() => (window.__fc && window.__fc.video ? { t: window.__fc.video.currentTime, paused: window.__fc.video.paused } : null))
      .catch(() => null);
    if (now && last !== null && !now.paused) {
      const d = now.t - last;
      if (d > 0 && d < 1) played += d;
    }
    last = now ? now.t : null;
    await page.waitForTimeout(250);
  }
  return Math.round(played * 100) / 100;
}

async function reconnectCommand() {
  const context = await newContext();
  const page = await newPage(context, 'reconnect');
  step('open the watch page');
  await page.goto(`${BASE}/${encodeURIComponent(CHANNEL)}`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, tid('player-video'), 'the player');
  step('wait for playback');
  const started = await page
    .waitForFunction(() => window.__fc && window.__fc.startupMs !== null, null, { timeout: WAIT })
    .then(() => true)
    .catch(() => false);
  if (!started) fail('playback did not start');
  result.played_before_s = await playFor(page, 2, WAIT * 1000);
  // The caller stops the publisher when it reads this step on stderr.
  step('playing: stop the publisher');
  const stoppedAt = Date.now();
  await page.waitForSelector(tid('offline'), { timeout: WAIT * 2 }).catch(() => fail('the offline state never showed'));
  result.offline_after_ms = Date.now() - stoppedAt;
  result.offline_text = await text(page, tid('offline'));
  await shot(page, opts.shots, 'offline.png');
  // The caller publishes again when it reads this step.
  step('offline: start the publisher again');
  const backAt = Date.now();
  await page
    .waitForSelector(tid('offline'), { timeout: WAIT * 2, state: 'detached' })
    .catch(() => fail('the page stayed offline after the stream came back'));
  result.played_after_s = await playFor(page, 3, WAIT * 1000);
  result.resumed_after_ms = Date.now() - backAt;
  if (result.played_after_s < 3) fail(`played only ${result.played_after_s} s after the stream came back`);
  return true;
}

async function watchCommand() {
  const context = await newContext();
  const page = await newPage(context, 'watch');
  step('open the watch page');
  await page.goto(`${BASE}/${encodeURIComponent(CHANNEL)}`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, tid('player-video'), 'the player');
  step('wait for playback');
  const startedOk = await page
    .waitForFunction(() => window.__fc && window.__fc.startupMs !== null, null, { timeout: WAIT })
    .then(() => true)
    .catch(() => false);
  result.started = startedOk;
  if (!startedOk) {
    const offline = await page.$(tid('offline'));
    const status = await text(page, tid('player-status'));
    const errors = await page.evaluate(() => (window.__fc ? window.__fc.errors : null)).catch(() => null);
    result.player_errors = errors;
    await shot(page, opts.shots, 'watch.png');
    fail(
      `playback did not start within ${WAIT / 1000} s` +
        `${offline ? `; the page shows "${await text(page, tid('offline'))}"` : ''}` +
        `${status ? `; status "${status}"` : ''}${errors && errors.length ? `; player: ${errors.slice(-3).join(' | ')}` : ''}`,
    );
  }
  result.startup_ms = await page.evaluate(() => Math.round(window.__fc.startupMs));
  step(`watch for ${SECONDS} s`);
  const [t0, stalls0] = await page.evaluate(() => [window.__fc.video.currentTime, window.__fc.stalls]);
  await page.waitForTimeout(SECONDS * 1000);
  const [t1, stalls1] = await page.evaluate(() => [window.__fc.video.currentTime, window.__fc.stalls]);
  result.played_s = Math.round((t1 - t0) * 100) / 100;
  // Steady-state playback: the stalls of these N seconds only (not startup's, not the switch's).
  result.stalls = stalls1 - stalls0;
  result.hls_levels = await page.evaluate(() => window.__fc.levels());
  step('read the quality menu');
  result.levels = await page.$$eval(`${tid('quality-select')} option`, (els) =>
    els.map((o) => ({
      value: o.value,
      label: (o.textContent || '').trim(),
      height: o.value === '-1' ? null : Number(o.getAttribute('data-height')),
      bitrate: o.value === '-1' ? null : Number(o.getAttribute('data-bitrate')),
    })),
  );
  const renditions = result.levels.filter((l) => l.value !== '-1');
  result.latency_text = await text(page, tid('latency'));
  result.latency_s = await page.evaluate(() => window.__fc.latency());
  // What the watch page itself transferred: the document plus its own scripts and styles (and
  // what those pull in: fonts, preloads), as sent (compressed) and decoded. Media (playlists,
  // segments, parts), API calls and images (thumbnails) are left out.
  result.page_bytes = await page.evaluate(() => {
    const media = /\.(m3u8|m4s|mp4|m4a|m4v|ts|aac|jpe?g|png|gif|webp|avif|svg|ico)$/i;
    const code = /\.(m?js|css)$/i;
    const own = (e) => {
      let u;
      try {
        u = new URL(e.name);
      } catch {
        return false;
      }
      if (u.origin !== location.origin || u.pathname.startsWith('/api/') || media.test(u.pathname)) return false;
      return ['script', 'link', 'css'].includes(e.initiatorType) || code.test(u.pathname);
    };
    const entries = [
      ...performance.getEntriesByType('navigation'),
      ...performance.getEntriesByType('resource').filter(own),
    ];
    return {
      encoded: entries.reduce((n, e) => n + (e.encodedBodySize || 0), 0),
      decoded: entries.reduce((n, e) => n + (e.decodedBodySize || 0), 0),
      count: entries.length,
    };
  });
  let switchOk = true;
  const stallsBefore = await page.evaluate(() => window.__fc.stalls);
  if (opts['no-switch']) {
    result.selected = null;
    result.switch_skipped = '--no-switch';
  } else if (renditions.length >= 2) {
    step('choose the lowest rendition');
    const lowest = [...renditions].sort((a, b) => a.height - b.height || a.bitrate - b.bitrate)[0];
    result.selected = { value: lowest.value, label: lowest.label };
    await page.selectOption(tid('quality-select'), lowest.value);
    const want = Number(lowest.value);
    result.switched = await page
      .waitForFunction((w) => window.__fc.hls && window.__fc.hls.currentLevel === w && window.__fc.hls.loadLevel === w, want, {
        timeout: WAIT,
      })
      .then(() => true)
      .catch(() => false);
    result.level_after = await page.evaluate(() =>
      window.__fc.hls ? { current: window.__fc.hls.currentLevel, load: window.__fc.hls.loadLevel } : null,
    );
    step('check playback goes on after the switch');
    const a0 = await page.evaluate(() => window.__fc.video.currentTime);
    await page.waitForTimeout(4000);
    const a1 = await page.evaluate(() => window.__fc.video.currentTime);
    result.played_after_switch_s = Math.round((a1 - a0) * 100) / 100;
    result.video_height_after = await page.evaluate(() => window.__fc.video.videoHeight);
    result.quality_current_text = await text(page, tid('quality-current'));
    switchOk = result.switched && result.played_after_switch_s > 1;
    if (!result.switched) result.error = `hls.js did not switch to level ${want} (${lowest.label}): ${JSON.stringify(result.level_after)}`;
    else if (!(result.played_after_switch_s > 1)) result.error = `playback stopped after switching (${result.played_after_switch_s} s in 4 s)`;
  } else {
    result.selected = null;
    result.switch_skipped = `the menu lists ${renditions.length} rendition(s)`;
  }
  result.latency_text = (await text(page, tid('latency'))) || result.latency_text;
  result.latency_s = await page.evaluate(() => window.__fc.latency());
  // A chosen rendition is switched to at once (hls.js flushes the buffer), which may stall
  // once: counted apart from the steady playback above.
  result.stalls_after_switch = (await page.evaluate(() => window.__fc.stalls)) - stallsBefore;
  result.screenshot = await shot(page, opts.shots, 'watch.png');
  const playedOk = result.played_s >= SECONDS / 2;
  if (!playedOk) fail(`played only ${result.played_s} s of ${SECONDS} s`);
  if (!switchOk) fail(result.error);
  return true;
}

async function chatCommand() {
  if (!opts.user || !opts.password) usage('chat needs --user and --password');
  const guestCtx = await newContext();
  const userCtx = await newContext();
  const guest = await newPage(guestCtx, 'guest');
  const user = await newPage(userCtx, 'user');
  step('the user logs in');
  const { signed_up } = await login(user, opts.user, opts.password, `/${CHANNEL}`);
  result.signed_up = signed_up;
  await user.waitForURL((u) => u.pathname === `/${CHANNEL}`, { timeout: WAIT }).catch(() => user.goto(`${BASE}/${CHANNEL}`));
  step('the user joins the chat');
  await waitFor(user, `${tid('chat')}[data-joined="yes"]`, 'the signed-in user in the chat');
  const userRole = await user.getAttribute(tid('chat'), 'data-role');
  step('the guest joins the chat');
  const guestName = await joinAsGuest(guest, 'guest');
  const tag = rand();
  const guestMsg = `hello from the guest ${tag}`;
  const userMsg = `hi from ${opts.user} ${tag}`;
  const escaped = `tags <b>x</b> & "quotes" 'too' ${tag}`;
  result.guest = { name: guestName, sent: [guestMsg, escaped] };
  result.user = { name: opts.user, role: userRole, sent: [userMsg] };
  step('exchange messages');
  await chatSend(guest, guestMsg);
  await chatSend(user, userMsg);
  const userSaw = await waitChatText(user, guestMsg);
  const guestSaw = await waitChatText(guest, userMsg);
  await chatSend(guest, escaped);
  result.escaped_ok = await waitChatText(user, escaped);
  result.guest.saw = await chatTexts(guest);
  result.user.saw = await chatTexts(user);
  result.guest.saw_other = guestSaw;
  result.user.saw_other = userSaw;
  if (!userSaw) fail(`the user did not see the guest's message "${guestMsg}"; chat error: ${await text(user, tid('chat-error'))}`);
  if (!guestSaw) fail(`the guest did not see the user's message "${userMsg}"; chat error: ${await text(guest, tid('chat-error'))}`);
  if (!result.escaped_ok) fail(`the message with markup did not show as typed: ${JSON.stringify(result.user.saw.slice(-3))}`);
  return true;
}

async function modesCommand() {
  if (!opts.streamer || !opts.user || !opts.password) usage('modes needs --streamer, --user and --password');
  const streamer = await newPage(await newContext(), 'streamer');
  const viewer = await newPage(await newContext(), 'viewer');
  const joined = (page) => waitFor(page, `${tid('chat')}[data-joined="yes"]`, 'the chat joined');
  step('the streamer and a viewer log in');
  await login(streamer, opts.streamer, opts.password, `/${CHANNEL}`);
  await streamer.goto(`${BASE}/${encodeURIComponent(CHANNEL)}`, { waitUntil: 'domcontentloaded' });
  await joined(streamer);
  await login(viewer, opts.user, opts.password, `/${CHANNEL}`);
  await viewer.goto(`${BASE}/${encodeURIComponent(CHANNEL)}`, { waitUntil: 'domcontentloaded' });
  await joined(viewer);
  step('the streamer turns followers-only on');
  await streamer.click(tid('mod-followers'));
  await waitFor(streamer, `${tid('mod-followers')}[aria-pressed="true"]`, 'followers-only on');
  await viewer
    .waitForFunction(() => [...document.querySelectorAll('[data-testid="chat-system"]')].some((e) => /Followers-only/i.test(e.textContent)), null, { timeout: WAIT })
    .catch(() => fail("the viewer's chat never said followers-only is on"));
  step('the viewer, not a follower, tries to post');
  const attempt = `followers only ${rand()}`;
  await chatSend(viewer, attempt);
  await viewer
    .waitForFunction(() => (document.querySelector('[data-testid="chat-error"]')?.textContent || '').trim() !== '', null, { timeout: WAIT })
    .catch(() => fail('no refusal shown'));
  result.refusal = await text(viewer, tid('chat-error'));
  step('the viewer follows from the watch page and posts again');
  await viewer.click(tid('follow'));
  await waitFor(viewer, `${tid('chat')}[data-follower="yes"][data-joined="yes"]`, 'the chat rejoined as a follower');
  await chatSend(viewer, attempt);
  result.posted_after_follow = await streamer
    .waitForFunction((t) => [...document.querySelectorAll('[data-testid="chat-text"]')].some((e) => e.textContent === t), attempt, { timeout: WAIT })
    .then(() => true)
    .catch(() => false);
  if (!result.posted_after_follow) fail("the follower's message never reached the streamer");
  step('the streamer turns guests off; a visitor is asked to log in');
  await streamer.click(tid('mod-guests'));
  await waitFor(streamer, `${tid('mod-guests')}[aria-pressed="false"]`, 'guests off');
  const visitor = await newPage(await newContext(), 'visitor');
  await visitor.goto(`${BASE}/${encodeURIComponent(CHANNEL)}`, { waitUntil: 'domcontentloaded' });
  await waitFor(visitor, tid('chat-login-needed'), 'the log-in prompt for visitors');
  result.visitor_text = await text(visitor, tid('chat-login-needed'));
  result.visitor_has_name_form = Boolean(await visitor.$(tid('chat-name')));
  return true;
}

async function moderateCommand() {
  if (!opts.streamer || !opts.password) usage('moderate needs --streamer and --password');
  const sCtx = await newContext();
  const gCtx = await newContext();
  const streamer = await newPage(sCtx, 'streamer');
  const guest = await newPage(gCtx, 'guest');
  step('the streamer logs in');
  await login(streamer, opts.streamer, opts.password, `/${CHANNEL}`);
  await streamer.waitForURL((u) => u.pathname === `/${CHANNEL}`, { timeout: WAIT }).catch(() => streamer.goto(`${BASE}/${CHANNEL}`));
  await waitFor(streamer, `${tid('chat')}[data-joined="yes"]`, "the streamer in the chat");
  result.streamer_role = await streamer.getAttribute(tid('chat'), 'data-role');
  if (result.streamer_role !== 'streamer' && result.streamer_role !== 'moderator') {
    fail(`${opts.streamer} joined the chat as ${result.streamer_role}, not as the streamer: does the account own ${CHANNEL}?`);
  }
  step('a guest joins and posts');
  const guestName = await joinAsGuest(guest, 'pest');
  result.guest_name = guestName;
  const msg = `please time me out ${rand()}`;
  await chatSend(guest, msg);
  step("the streamer sees the guest's message");
  const line = `${tid('chat-message')}[data-user="${guestName}"]`;
  await waitFor(streamer, line, "the guest's message on the streamer's page");
  step('the streamer times the guest out from the message');
  const li = streamer.locator(line).last();
  await li.hover();
  await li.locator(tid('mod-timeout')).click();
  await waitFor(streamer, tid('mod-reason'), 'the timeout form');
  await streamer.fill(tid('mod-reason'), 'webapp test');
  await streamer.click(tid('mod-confirm'));
  result.hidden_for_streamer = await streamer
    .waitForSelector(line, { state: 'detached', timeout: WAIT })
    .then(() => true)
    .catch(() => false);
  step('the guest sees the timeout');
  result.system_line = await guest
    .waitForFunction(
      (n) => {
        const el = [...document.querySelectorAll('[data-testid="chat-system"]')].find((e) => (e.textContent || '').includes(n));
        return el ? el.textContent.trim() : null;
      },
      guestName,
      { timeout: WAIT },
    )
    .then((h) => h.jsonValue())
    .catch(() => null);
  step('the guest tries to post');
  await chatSend(guest, `am I muted? ${rand()}`);
  result.guest_error = await waitText(guest, tid('chat-error'), "the guest's error line");
  if (!/timed out/i.test(result.guest_error)) fail(`the guest's error does not say timed out: "${result.guest_error}"`);
  if (!result.hidden_for_streamer) fail("the timed-out guest's message stayed in the streamer's chat");
  return true;
}

async function accountsCommand() {
  const context = await newContext();
  const page = await newPage(context, 'accounts');
  const name = `u${rand()}${rand()}`.slice(0, 14);
  const password = `pw-${rand()}-${rand()}`;
  result.name = name;
  step('sign up');
  await page.goto(`${BASE}/signup`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, tid('login-name'), 'the signup form');
  await page.fill(tid('login-name'), name);
  await page.fill(tid('login-password'), password);
  await page.click(tid('login-submit'));
  await waitFor(page, tid('nav-user'), 'signed in after signing up');
  result.signed_up = (await text(page, tid('nav-user'))) === name;
  step('log out');
  await page.click(tid('nav-logout'));
  await waitFor(page, tid('nav-login'), 'the "Log in" link after logging out');
  result.logged_out = true;
  step('log in with a wrong password');
  await page.goto(`${BASE}/login`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, tid('login-name'), 'the login form');
  await page.fill(tid('login-name'), name);
  await page.fill(tid('login-password'), `${password}-wrong`);
  expectFailure(/\/api\/v1\/auth\/login$/, 401);
  await page.click(tid('login-submit'));
  result.wrong_password_error = await waitText(page, tid('form-error'), 'the wrong-password error');
  step('log in');
  await page.fill(tid('login-password'), password);
  await page.click(tid('login-submit'));
  await waitFor(page, tid('nav-user'), 'signed in with the right password');
  result.logged_in = (await text(page, tid('nav-user'))) === name;
  step('POST without the CSRF header');
  expectFailure(/\/api\/v1\/tokens$/, 403);
  const probe = await page.evaluate(async () => {
    const post = async (headers) => {
      const r = await fetch('/api/v1/tokens', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', ...headers },
        body: JSON.stringify({ name: 'csrf-probe' }),
      });
      let body = null;
      try {
        body = await r.json();
      } catch {
        body = null;
      }
      return { status: r.status, error: body && body.error, id: body && body.id };
    };
    const without = await post({});
    const s = await (await fetch('/api/v1/session', { credentials: 'same-origin' })).json();
    const withToken = await post({ 'X-CSRF-Token': s.csrf });
    if (withToken.id !== null && withToken.id !== undefined) {
      await fetch(`/api/v1/tokens/${encodeURIComponent(withToken.id)}`, {
        method: 'DELETE',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': s.csrf },
      });
    }
    return { without, withToken };
  });
  result.csrf_refused_status = probe.without.status;
  result.csrf_refused_error = probe.without.error;
  result.with_csrf_status = probe.withToken.status;
  if (!result.signed_up) fail('the header does not show the new account after signing up');
  if (!result.wrong_password_error) fail('no error shown for a wrong password');
  if (!result.logged_in) fail('the header does not show the account after logging in');
  if (probe.without.status !== 403) fail(`a POST without X-CSRF-Token got ${probe.without.status}, not 403`);
  return true;
}

async function studioCommand() {
  if (!opts.user || !opts.password || !opts.channel) usage('studio needs --user, --password and --channel');
  const context = await newContext({ width: 1280, height: 1000 });
  const page = await newPage(context, 'studio');
  step('log in');
  result.signed_up = (await login(page, opts.user, opts.password, '/studio')).signed_up;
  await waitFor(page, tid('studio-create-name'), 'the studio');
  step('create the channel');
  await page.fill(tid('studio-create-name'), opts.channel);
  await page.fill(tid('studio-create-title'), `${opts.channel} test stream`);
  await page.click(tid('studio-create-submit'));
  const panel = `${tid('channel-panel')}[data-channel="${opts.channel}"]`;
  await Promise.race([
    page.waitForSelector(panel, { timeout: WAIT }),
    page.waitForFunction((sel) => (document.querySelector(sel)?.textContent || '').trim() !== '', tid('studio-create-error'), {
      timeout: WAIT,
    }),
  ]).catch(() => null);
  if (!(await page.$(panel))) fail(`the channel panel did not appear: ${(await text(page, tid('studio-create-error'))) || 'no error shown'}`);
  result.ingest_url = await page.inputValue(`${panel} ${tid('ingest-url')}`);
  step('reveal the key');
  await waitFor(page, `${panel} ${tid('key-reveal')}`, 'the Reveal button (is the key known after create?)');
  result.key_hidden_text = await text(page, `${panel} ${tid('key-value')}`);
  await page.click(`${panel} ${tid('key-reveal')}`);
  result.key1 = await page.waitForFunction((sel) => {
    const t = (document.querySelector(sel)?.textContent || '').trim();
    return t && !t.includes('•') ? t : null;
  }, `${panel} ${tid('key-value')}`).then((h) => h.jsonValue(), () => null);
  if (!result.key1) fail('the key did not show after Reveal');
  step('rotate the key');
  await page.click(`${panel} ${tid('key-rotate')}`);
  await waitFor(page, `${panel} ${tid('key-rotate-confirm')}`, 'the rotation confirmation');
  await page.click(`${panel} ${tid('key-rotate-confirm')}`);
  await page
    .waitForSelector(`${panel} ${tid('key-rotate-confirm')}`, { state: 'detached', timeout: WAIT })
    .catch(async () => fail(`the rotation did not finish: ${(await text(page, `${panel} ${tid('key-error')}`)) || 'no error shown'}`));
  const err = await text(page, `${panel} ${tid('key-error')}`);
  if (err) fail(`rotating failed: ${err}`);
  step('reveal the new key');
  const revealed = await page.getAttribute(`${panel} ${tid('key-reveal')}`, 'aria-pressed');
  if (revealed !== 'true') await page.click(`${panel} ${tid('key-reveal')}`);
  result.key2 = await page.waitForFunction(
    ([sel, old]) => {
      const t = (document.querySelector(sel)?.textContent || '').trim();
      return t && !t.includes('•') && t !== old ? t : null;
    },
    [`${panel} ${tid('key-value')}`, result.key1],
  ).then((h) => h.jsonValue(), () => null);
  result.screenshot = await shot(page, opts.shots, 'studio.png');
  if (!result.key2) fail(`no new key shown after rotating (still ${await text(page, `${panel} ${tid('key-value')}`)})`);
  return true;
}

async function shotsCommand() {
  const dir = opts.dir || opts.shots;
  if (!dir) usage('shots needs --dir');
  result.pages = {};
  const visit = async (label, url, viewport, file, ready) => {
    step(`screenshot ${label}`);
    const before = result.console_errors.length;
    const context = await newContext(viewport);
    try {
      if (label.startsWith('studio') && opts.user && opts.password) {
        const p = await newPage(context, `${label}-login`);
        await login(p, opts.user, opts.password, '/studio');
        await p.close();
      }
      const page = await newPage(context, label);
      await page.goto(url, { waitUntil: 'domcontentloaded' });
      await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => null);
      let note = null;
      if (ready) note = await ready(page).catch((e) => `not ready: ${e.message.split('\n')[0]}`);
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      const png = await shot(page, dir, file);
      result.pages[label] = {
        url,
        file: png,
        note,
        overflow_px: Math.max(0, overflow),
        console_errors: result.console_errors.slice(before),
      };
    } finally {
      await context.close();
    }
  };
  const desktop = { width: 1280, height: 800 };
  const phone = { width: 360, height: 740 };
  const playing = (page) =>
    page.waitForFunction(() => window.__fc && window.__fc.startupMs !== null, null, { timeout: WAIT }).then(async () => {
      await page.waitForTimeout(1500);
      return null;
    });
  const directoryReady = (page) =>
    page
      .waitForSelector(`${tid('live-list')}, ${tid('directory-empty')}, ${tid('directory-error')}`, { timeout: WAIT })
      .then(() => page.waitForTimeout(1000))
      .then(() => null);
  await visit('directory', `${BASE}/`, desktop, 'directory.png', directoryReady);
  await visit('watch', `${BASE}/${CHANNEL}`, desktop, 'watch.png', playing);
  await visit('studio', `${BASE}/studio`, { width: 1280, height: 1000 }, 'studio.png', (page) =>
    page.waitForSelector(`${tid('studio')}, ${tid('login-name')}`, { timeout: WAIT }).then(() => page.waitForTimeout(2500)).then(() => null),
  );
  await visit('api-docs', `${BASE}/api/docs`, desktop, 'api-docs.png', (page) =>
    page.waitForSelector(`${tid('docs-tag')}, ${tid('docs-error')}`, { timeout: WAIT }).then(() => null),
  );
  await visit('login', `${BASE}/login`, desktop, 'login.png', (page) => page.waitForSelector(tid('login-name')).then(() => null));
  await visit('directory-phone', `${BASE}/`, phone, 'directory-phone.png', directoryReady);
  await visit('watch-phone', `${BASE}/${CHANNEL}`, phone, 'watch-phone.png', playing);
  await visit('studio-phone', `${BASE}/studio`, phone, 'studio-phone.png', (page) =>
    page.waitForSelector(`${tid('studio')}, ${tid('login-name')}`, { timeout: WAIT }).then(() => page.waitForTimeout(2500)).then(() => null),
  );
  const overflowing = Object.entries(result.pages).filter(([, p]) => p.overflow_px > 0);
  if (overflowing.length) result.warning = `wider than the screen: ${overflowing.map(([k, p]) => `${k} by ${p.overflow_px} px`).join(', ')}`;
  return true;
}

async function vodCommand() {
  const id = CHANNEL;
  const context = await newContext();
  const page = await newPage(context, 'vod');
  const here = `/videos/${encodeURIComponent(id)}`;
  if (opts.user || opts.password) {
    if (!opts.user || !opts.password) usage('vod needs both --user and --password, or neither');
    step('log in');
    await login(page, opts.user, opts.password, here);
  }
  step('open the video page');
  const opened = Date.now();
  await page.goto(`${BASE}${here}`, { waitUntil: 'domcontentloaded' });
  await waitFor(page, tid('vod-video'), 'the player (is the video ready?)');
  step('wait for playback past 1 s');
  const video = tid('vod-video');
  const played = await page
    .waitForFunction((sel) => document.querySelector(sel).currentTime > 1, video, { timeout: WAIT })
    .then(() => true)
    .catch(() => false);
  if (!played) {
    const shown = await text(page, tid('vod-error'));
    fail(`the video did not play past 1 s within ${WAIT / 1000} s${shown ? `; the page shows "${shown}"` : ''}`);
  }
  result.startup_ms = Date.now() - opened;
  result.played_s = await page.$eval(video, (v) => Math.round(v.currentTime * 100) / 100);
  result.poster = await page.$eval(video, (v) => v.getAttribute('poster'));
  step('read the quality menu');
  result.levels = await page.$$eval(`${tid('quality-select')} option`, (els) =>
    els.map((o) => ({
      value: o.value,
      label: (o.textContent || '').trim(),
      height: o.value === '-1' ? null : Number(o.getAttribute('data-height')),
      bitrate: o.value === '-1' ? null : Number(o.getAttribute('data-bitrate')),
      name: o.value === '-1' ? null : o.getAttribute('data-name'),
    })),
  );
  const api = await page.evaluate(async (path) => {
    const r = await fetch(path, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    return r.ok ? r.json() : { status: r.status };
  }, `/api/v1/videos/${encodeURIComponent(id)}`);
  if (!Array.isArray(api.renditions)) fail(`GET /api/v1/videos/${id} has no renditions: ${JSON.stringify(api)}`);
  result.renditions = api.renditions.map((r) => ({ name: r.name, height: r.height, bandwidth: r.bandwidth }));
  const heights = new Set(result.levels.map((l) => l.height));
  result.missing_renditions = result.renditions.filter((r) => !heights.has(r.height)).map((r) => r.name);
  step('read the Download link');
  const href = await page.getAttribute(tid('video-download'), 'href').catch(() => null);
  if (href) {
    const u = new URL(href, BASE);
    result.download_url = u.pathname + u.search;
  } else result.download_url = null;
  result.screenshot = await shot(page, opts.shots, 'vod.png');
  if (result.missing_renditions.length) fail(`the quality menu lacks ${result.missing_renditions.join(', ')}`);
  if (!result.download_url || !new URL(result.download_url, BASE).pathname.endsWith(`/vod/${id}/download.mp4`)) {
    fail(`the Download link is ${result.download_url ?? 'missing'}, not /vod/${id}/download.mp4`);
  }
  return true;
}

try {
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: opts.chromium,
    headless: true,
    args: [
      '--no-sandbox',
      '--autoplay-policy=no-user-gesture-required',
      '--disable-dev-shm-usage',
      '--mute-audio',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
    ],
  });
  log(`chromium ${browser.version()}; ${command} ${BASE}${CHANNEL ? ` ${CHANNEL}` : ''}`);
  const run = { watch: watchCommand, reconnect: reconnectCommand, modes: modesCommand, chat: chatCommand, moderate: moderateCommand, accounts: accountsCommand, studio: studioCommand, shots: shotsCommand, vod: vodCommand }[command];
  await run();
  step('done');
  finish(true);
} catch (e) {
  if (e instanceof Missing) finish(false, e.message);
  else finish(false, `at step "${result.step}": ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : String(e)}`);
} finally {
  if (browser) await browser.close().catch(() => {});
}
