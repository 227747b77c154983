// Viewer telemetry (docs/WEB.md, POST /api/v1/qoe): `start` once playback began, a `beat` every
// 10 s with the counters since the previous report, `end` when the viewer leaves (a beacon on
// pagehide, so that it survives the page going away).
import { ApiError, api } from '../api';
import { randomId } from '../util';

const URL_QOE = '/api/v1/qoe';
const BEAT_MS = 10000;

/** What the player has counted since it started (totals, not deltas). */
export interface QoeTotals {
  rebufferMs: number;
  playedMs: number;
  switches: number;
  errors: number;
}

export interface QoeSource {
  totals(): QoeTotals;
  latency(): number | null;
  rendition(): string | null;
}

/** Telemetry is off for the rest of the page's life once the server showed it has no endpoint. */
let unavailable = false;

export class QoeReporter {
  readonly session = randomId();
  private sent: QoeTotals = { rebufferMs: 0, playedMs: 0, switches: 0, errors: 0 };
  private timer: ReturnType<typeof setInterval> | null = null;
  private started = false;
  private ended = false;
  private readonly onPageHide = () => this.end(true);

  constructor(
    private readonly channel: string,
    private readonly source: QoeSource,
  ) {}

  /** Playback began after `startupMs`. */
  start(startupMs: number): void {
    if (this.started || this.ended) return;
    this.started = true;
    this.post({ event: 'start', startup_ms: Math.round(startupMs) });
    this.timer = setInterval(() => this.post({ event: 'beat', ...this.deltas() }), BEAT_MS);
    window.addEventListener('pagehide', this.onPageHide);
  }

  /** The viewer left (or the broadcast ended). `beacon`: the page is going away. */
  end(beacon = false): void {
    if (!this.started || this.ended) return;
    this.ended = true;
    if (this.timer) clearInterval(this.timer);
    window.removeEventListener('pagehide', this.onPageHide);
    const body = { event: 'end' as const, ...this.deltas() };
    if (beacon && typeof navigator.sendBeacon === 'function' && !unavailable) {
      const blob = new Blob([JSON.stringify(this.wrap(body))], { type: 'application/json' });
      if (navigator.sendBeacon(URL_QOE, blob)) return;
    }
    this.post(body, true);
  }

  private deltas() {
    const now = this.source.totals();
    const d = {
      rebuffer_ms: Math.max(0, Math.round(now.rebufferMs - this.sent.rebufferMs)),
      played_ms: Math.max(0, Math.round(now.playedMs - this.sent.playedMs)),
      switches: Math.max(0, now.switches - this.sent.switches),
      errors: Math.max(0, now.errors - this.sent.errors),
      latency_s: roundLatency(this.source.latency()),
      rendition: this.source.rendition() ?? undefined,
    };
    this.sent = { ...now };
    return d;
  }

  private wrap(body: Record<string, unknown>) {
    const out: Record<string, unknown> = { channel: this.channel, session: this.session };
    for (const [k, v] of Object.entries(body)) if (v !== undefined && v !== null) out[k] = v;
    return out;
  }

  private post(body: Record<string, unknown>, keepalive = false): void {
    if (unavailable) return;
    api('POST', URL_QOE, this.wrap(body), { keepalive }).catch((e) => {
      // A server without the endpoint: stop asking. (A 404 for the channel is not that.)
      if (e instanceof ApiError && (e.routeMissing || e.status === 405)) unavailable = true;
    });
  }
}

function roundLatency(l: number | null): number | undefined {
  return l === null || !Number.isFinite(l) ? undefined : Math.round(l * 100) / 100;
}
