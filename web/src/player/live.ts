// The live player: hls.js (low-latency mode, started at the live edge) on a <video>, or the
// browser's own HLS where hls.js cannot run. It measures what the viewer gets (startup, stalls,
// latency, switches), reports it (QoeReporter), recovers from errors with backoff and tells the
// page when the broadcast is over (the playlist is gone, or ended with EXT-X-ENDLIST).
import type HlsType from 'hls.js';
import type { ErrorData, LevelSwitchedData, LevelUpdatedData, ManifestParsedData } from 'hls.js';
import { QoeReporter, QoeTotals } from './qoe';
import { formatBitrate } from '../util';

type HlsClass = typeof HlsType;
let hlsModule: Promise<HlsClass> | null = null;
/** hls.js is a chunk of its own, loaded by the first watch page. */
export function loadHls(): Promise<HlsClass> {
  if (!hlsModule) {
    hlsModule = import('hls.js').then((m) => m.default).catch((e) => {
      hlsModule = null;
      throw e;
    });
  }
  return hlsModule;
}

export interface LevelInfo {
  /** Index in hls.levels. */
  index: number;
  height: number;
  width: number;
  bitrate: number;
  /** Rendition name from the URL (`source`, `720p`), or null. */
  name: string | null;
  /** "1080p (source) · 6.0 Mbps". */
  label: string;
}

export type Phase = 'loading' | 'playing' | 'buffering' | 'retrying' | 'offline' | 'unsupported';

export interface PlayerView {
  phase: Phase;
  levels: LevelInfo[];
  /** The level chosen in the menu; -1 is Auto. */
  manual: number;
  /** The level playing, -1 when not known yet. */
  current: number;
  latency: number | null;
  targetLatency: number | null;
  /** Far enough behind the live edge to offer "Go live". */
  behind: boolean;
  muted: boolean;
  /** The browser refused to start playback without a click. */
  blocked: boolean;
  message: string | null;
}

export interface PlayerOptions {
  channel: string;
  url: string;
  /** performance.now() of what startup is measured from. */
  t0: number;
  onView(view: PlayerView): void;
  /** The broadcast is over or the playlist is gone. */
  onOffline(reason: 'ended' | 'gone'): void;
  /** Asks the API whether the channel is live: null when it cannot tell. */
  isLive(): Promise<boolean | null>;
}

/** What tests read (docs/WEB.md, "Test ids"). */
export interface FcHandle {
  readonly hls: HlsType | null;
  readonly video: HTMLVideoElement;
  levels(): { height: number; bitrate: number }[];
  latency(): number | null;
  readonly stalls: number;
  readonly startupMs: number | null;
  /** Extras for debugging. */
  readonly phase: Phase;
  readonly currentLevel: number;
  readonly switches: number;
  readonly errors: string[];
  readonly qoeSession: string | null;
}

declare global {
  interface Window {
    __fc?: FcHandle;
  }
}

const renditionOf = (url: string | undefined): string | null => {
  if (!url) return null;
  const m = /\/live\/[^/]+\/([^/]+)\/[^/]*\.m3u8/.exec(url);
  return m ? decodeURIComponent(m[1]) : null;
};

/** What the player shows before anything is known. */
export const INITIAL_VIEW: PlayerView = {
  phase: 'loading',
  levels: [],
  manual: -1,
  current: -1,
  latency: null,
  targetLatency: null,
  behind: false,
  muted: false,
  blocked: false,
  message: null,
};

export class LivePlayer {
  private hls: HlsType | null = null;
  private Hls: HlsClass | null = null;
  private view: PlayerView = { ...INITIAL_VIEW };
  private stopped = false;
  private native = false;
  private ended = false;
  private endedStuckSince: number | null = null;
  private attempts = 0;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private tickTimer: ReturnType<typeof setInterval> | null = null;
  private sampleTimer: ReturnType<typeof setInterval> | null = null;
  private lastMediaRecover = -Infinity;
  private t0: number;
  // Measurements, for this player's life (one QoE session).
  private startupMs: number | null = null;
  private stalls = 0;
  private stallSince: number | null = null;
  private totals: QoeTotals = { rebufferMs: 0, playedMs: 0, switches: 0, errors: 0 };
  private errorLog: string[] = [];
  private lastTime: number | null = null;
  private switchedOnce = false;
  private qoe: QoeReporter;
  private readonly listeners: [string, EventListener][] = [];

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly opts: PlayerOptions,
  ) {
    this.t0 = opts.t0;
    this.qoe = this.newReporter();
    const on = (type: string, fn: EventListener) => {
      video.addEventListener(type, fn);
      this.listeners.push([type, fn]);
    };
    on('playing', () => this.onPlaying());
    on('waiting', () => this.onWaiting());
    on('timeupdate', () => this.sample());
    on('seeked', () => {
      this.lastTime = video.currentTime;
    });
    on('ended', () => this.onEnded());
    on('volumechange', () => this.update({ muted: video.muted }));
    on('error', () => this.onVideoError());
    this.exposeForTests();
  }

  private newReporter(): QoeReporter {
    return new QoeReporter(this.opts.channel, {
      totals: () => {
        this.endStall(false);
        return { ...this.totals };
      },
      latency: () => this.latency(),
      rendition: () => this.rendition(),
    });
  }

  private exposeForTests() {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    window.__fc = {
      get hls() {
        return self.hls;
      },
      video: this.video,
      levels: () => (self.hls ? self.hls.levels.map((l) => ({ height: l.height, bitrate: l.bitrate })) : []),
      latency: () => self.latency(),
      get stalls() {
        return self.stalls;
      },
      get startupMs() {
        return self.startupMs;
      },
      get phase() {
        return self.view.phase;
      },
      get currentLevel() {
        return self.view.current;
      },
      get switches() {
        return self.totals.switches;
      },
      get errors() {
        return self.errorLog.slice();
      },
      get qoeSession() {
        return self.qoe.session;
      },
    };
  }

  private update(patch: Partial<PlayerView>) {
    this.view = { ...this.view, ...patch };
    if (!this.stopped) this.opts.onView(this.view);
  }

  private note(msg: string) {
    if (this.errorLog.length >= 50) this.errorLog.shift();
    this.errorLog.push(msg);
  }

  latency(): number | null {
    const l = this.hls?.latency;
    return typeof l === 'number' && Number.isFinite(l) && l > 0 ? l : null;
  }

  private rendition(): string | null {
    if (!this.hls) return this.native ? 'native' : null;
    const i = this.view.current >= 0 ? this.view.current : this.hls.currentLevel;
    const level = this.hls.levels[i];
    if (!level) return null;
    return renditionOf(level.url[0]) ?? (level.height ? `${level.height}p` : null);
  }

  /** Starts (or restarts) playback. */
  async start(): Promise<void> {
    this.stopped = false;
    this.update({ phase: 'loading', message: null });
    let Hls: HlsClass;
    try {
      Hls = this.Hls ?? (await loadHls());
      this.Hls = Hls;
    } catch (e) {
      this.note(`loading hls.js: ${e}`);
      if (this.video.canPlayType('application/vnd.apple.mpegurl')) {
        this.startNative();
        return;
      }
      this.scheduleRetry('The player could not be loaded.');
      return;
    }
    if (this.stopped) return;
    if (!this.tickTimer) this.tickTimer = setInterval(() => this.tick(), 1000);
    if (!this.sampleTimer) this.sampleTimer = setInterval(() => this.sample(), 250);
    if (Hls.isSupported()) {
      this.startHls(Hls);
    } else if (this.video.canPlayType('application/vnd.apple.mpegurl')) {
      this.startNative();
    } else {
      this.update({ phase: 'unsupported', message: 'This browser cannot play live video (no Media Source Extensions).' });
    }
  }

  private startHls(Hls: HlsClass) {
    const hls = new Hls({
      lowLatencyMode: true,
      // Start at the live edge (the default for live: -1 = the live sync position).
      startPosition: -1,
      backBufferLength: 30,
      liveDurationInfinity: true,
    });
    this.hls = hls;
    this.ended = false;
    this.endedStuckSince = null;
    const E = Hls.Events;
    hls.on(E.MANIFEST_PARSED, (_e, d: ManifestParsedData) => {
      const levels = this.levelInfos();
      // A level chosen before a restart stays chosen while it exists.
      const manual = this.view.manual < d.levels.length ? this.view.manual : -1;
      this.update({ levels, manual, current: -1 });
      if (manual >= 0) hls.loadLevel = manual;
      this.play();
    });
    hls.on(E.LEVELS_UPDATED, () => this.update({ levels: this.levelInfos() }));
    hls.on(E.LEVEL_SWITCHED, (_e, d: LevelSwitchedData) => {
      if (this.switchedOnce) this.totals.switches += 1;
      this.switchedOnce = true;
      this.update({ current: d.level });
    });
    hls.on(E.LEVEL_UPDATED, (_e, d: LevelUpdatedData) => {
      if (d.details && d.details.live === false && !this.ended) {
        // EXT-X-ENDLIST: play what is left, then show the offline panel.
        this.ended = true;
      }
    });
    hls.on(E.ERROR, (_e, d: ErrorData) => this.onHlsError(Hls, d));
    hls.attachMedia(this.video);
    hls.loadSource(this.opts.url);
  }

  private startNative() {
    this.native = true;
    this.update({ levels: [], current: -1 });
    this.video.src = this.opts.url;
    this.play();
  }

  private levelInfos(): LevelInfo[] {
    const hls = this.hls;
    if (!hls) return [];
    return hls.levels.map((l, index) => {
      const name = renditionOf(l.url[0]);
      const height = l.height || 0;
      const base = height ? `${height}p` : name || `Level ${index + 1}`;
      const source = name === 'source' ? ' (source)' : '';
      const rate = formatBitrate(l.bitrate);
      return {
        index,
        height,
        width: l.width || 0,
        bitrate: l.bitrate,
        name,
        label: `${base}${source}${rate ? ` · ${rate}` : ''}`,
      };
    });
  }

  private play() {
    const v = this.video;
    v.play()
      .then(() => this.update({ blocked: false }))
      .catch((e: DOMException) => {
        if (this.stopped) return;
        if (e && e.name === 'NotAllowedError' && !v.muted) {
          // Autoplay with sound refused: play muted and offer "Unmute".
          v.muted = true;
          v.play()
            .then(() => this.update({ blocked: false, muted: true }))
            .catch(() => this.update({ blocked: true }));
        } else if (e && e.name === 'NotAllowedError') {
          this.update({ blocked: true });
        }
      });
  }

  /** The viewer clicked play after autoplay was refused. */
  resume(): void {
    this.play();
  }

  unmute(): void {
    this.video.muted = false;
    if (this.video.volume === 0) this.video.volume = 1;
    this.update({ muted: false });
  }

  /** Chooses a level: -1 is Auto. */
  setLevel(index: number): void {
    this.update({ manual: index });
    if (this.hls) this.hls.currentLevel = index;
  }

  /** Seeks to the live sync position. */
  goLive(): void {
    const pos = this.hls?.liveSyncPosition;
    if (typeof pos === 'number' && Number.isFinite(pos)) this.video.currentTime = pos;
    else if (this.video.seekable.length) this.video.currentTime = this.video.seekable.end(this.video.seekable.length - 1) - 1;
    if (this.video.paused) this.play();
  }

  private onPlaying() {
    this.endStall(true);
    this.attempts = 0;
    if (this.startupMs === null) {
      this.startupMs = Math.max(0, performance.now() - this.t0);
      this.qoe.start(this.startupMs);
    }
    this.lastTime = this.video.currentTime;
    this.update({ phase: 'playing', message: null });
  }

  private onWaiting() {
    if (this.startupMs === null || this.video.seeking || this.stallSince !== null) return;
    this.stalls += 1;
    this.stallSince = performance.now();
    this.update({ phase: 'buffering' });
  }

  /** Closes an open stall into the rebuffer total; `over`: playback resumed. */
  private endStall(over: boolean) {
    if (this.stallSince === null) return;
    const now = performance.now();
    this.totals.rebufferMs += now - this.stallSince;
    this.stallSince = over ? null : now;
  }

  private sample() {
    const v = this.video;
    if (this.startupMs === null || v.seeking || v.paused) {
      this.lastTime = null;
      return;
    }
    const t = v.currentTime;
    if (this.lastTime !== null && t > this.lastTime && t - this.lastTime < 1) {
      this.totals.playedMs += (t - this.lastTime) * 1000;
      if (this.stallSince !== null) {
        this.endStall(true);
        this.update({ phase: 'playing' });
      }
    }
    this.lastTime = t;
  }

  private tick() {
    if (this.stopped) return;
    const latency = this.latency();
    const t = this.hls?.targetLatency;
    const target = typeof t === 'number' && Number.isFinite(t) && t > 0 ? t : null;
    const behind = latency !== null && target !== null && latency > 2 * target;
    this.update({ latency, targetLatency: target, behind });
    if (this.ended) {
      // After EXT-X-ENDLIST, the end of the buffer is the end of the broadcast.
      const v = this.video;
      const end = v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
      const atEnd = v.ended || end - v.currentTime < 0.5;
      if (atEnd) {
        this.endedStuckSince ??= performance.now();
        if (v.ended || performance.now() - this.endedStuckSince > 3000) this.goOffline('ended');
      } else {
        this.endedStuckSince = null;
      }
    }
  }

  private onEnded() {
    if (this.ended || !this.hls) this.goOffline('ended');
  }

  private onVideoError() {
    const e = this.video.error;
    this.note(`video element: ${e ? `${e.code} ${e.message}` : 'unknown'}`);
    this.totals.errors += 1;
    if (this.native) this.scheduleRetry('Playback failed; retrying…');
  }

  private onHlsError(Hls: HlsClass, d: ErrorData) {
    const code = (d.response && d.response.code) || 0;
    this.note(`${d.fatal ? 'fatal' : 'warning'} ${d.type}: ${d.details}${code ? ` (HTTP ${code})` : ''}`);
    if (!d.fatal) return;
    this.totals.errors += 1;
    const hls = this.hls;
    if (!hls) return;
    if (d.type === Hls.ErrorTypes.MEDIA_ERROR) {
      const now = performance.now();
      if (now - this.lastMediaRecover > 5000) {
        this.lastMediaRecover = now;
        hls.recoverMediaError();
        return;
      }
      this.scheduleRetry('Playback failed; retrying…');
      return;
    }
    if (d.type === Hls.ErrorTypes.NETWORK_ERROR) {
      const playlist =
        d.details === Hls.ErrorDetails.MANIFEST_LOAD_ERROR ||
        d.details === Hls.ErrorDetails.LEVEL_LOAD_ERROR ||
        d.details === Hls.ErrorDetails.MANIFEST_PARSING_ERROR;
      if (playlist && (code === 404 || code === 410)) {
        // No playlist: not live (yet, or any more). The API knows which.
        this.teardown();
        this.opts
          .isLive()
          .then((live) => {
            if (this.stopped) return;
            if (live) this.scheduleRetry('Waiting for the stream…');
            else this.goOffline('gone');
          })
          .catch(() => this.goOffline('gone'));
        return;
      }
    }
    this.scheduleRetry(d.type === Hls.ErrorTypes.NETWORK_ERROR ? 'Connection lost; reconnecting…' : 'Playback failed; retrying…');
  }

  /** Tears the player down and starts again after a growing delay (1, 2, 4, 8, 10 s). */
  private scheduleRetry(message: string) {
    if (this.stopped) return;
    this.teardown();
    this.attempts += 1;
    const delay = Math.min(10000, 1000 * 2 ** (this.attempts - 1));
    this.update({ phase: 'retrying', message });
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(async () => {
      this.retryTimer = null;
      if (this.stopped) return;
      // Long failures: ask the API whether there is anything to play at all.
      if (this.attempts >= 3) {
        const live = await this.opts.isLive().catch(() => null);
        if (this.stopped) return;
        if (live === false) {
          this.goOffline('gone');
          return;
        }
      }
      this.start();
    }, delay);
  }

  private goOffline(reason: 'ended' | 'gone') {
    if (this.stopped) return;
    this.qoe.end();
    this.stop();
    this.opts.onOffline(reason);
  }

  private teardown() {
    if (this.hls) {
      this.hls.destroy();
      this.hls = null;
    }
    if (this.native) {
      this.video.removeAttribute('src');
      this.video.load();
      this.native = false;
    }
    this.ended = false;
  }

  /** Stops for good: the page is leaving or the broadcast is over. */
  stop(): void {
    this.qoe.end();
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.sampleTimer) clearInterval(this.sampleTimer);
    this.retryTimer = this.tickTimer = this.sampleTimer = null;
    this.teardown();
  }

  /** Stops and forgets the video element's listeners. */
  dispose(): void {
    this.stop();
    for (const [type, fn] of this.listeners) this.video.removeEventListener(type, fn);
    this.listeners.length = 0;
  }
}
