// The chat socket (docs/CHAT.md): joins with a guest name or an API-issued token, keeps the
// room's epoch and the last offset seen, and after a drop reconnects with backoff and asks for
// exactly the missed events (`epoch` + `since`).

export type Role = 'viewer' | 'moderator' | 'streamer';

export interface ChatEvent {
  type: string;
  id?: string;
  offset?: number;
  ts?: number;
  [k: string]: unknown;
}

export interface Joined {
  type: 'joined';
  protocol: number;
  room: string;
  epoch: string;
  offset: number;
  you: { name: string; role: Role; banned?: boolean; follower?: boolean };
  viewers: number;
  slow: number;
  /** Only followers (and the streamer and moderators) may post. */
  followers_only?: boolean;
  /** Guests (a bare name, no account) may join. */
  guests?: boolean;
  recovered?: boolean;
  backlog: ChatEvent[];
}

export interface ChatErrorFrame {
  type: 'error';
  reason: string;
  message: string;
  retry_after_ms?: number;
}

export type Credentials = { name: string } | { token: string };

export type ChatStatus = 'idle' | 'connecting' | 'joined' | 'reconnecting' | 'closed';

export interface ChatHandlers {
  onStatus(status: ChatStatus, detail?: string): void;
  /** `recovered`: the backlog is exactly the missed events; else it replaces the view. */
  onJoined(j: Joined, recovered: boolean, rejoin: boolean): void;
  onEvent(e: ChatEvent): void;
  onPresence(viewers: number): void;
  /** `join`: the refusal of a join (the client has stopped; fix the name and connect again). */
  onError(e: ChatErrorFrame, join: boolean): void;
}

const PING_MS = 25000;
const PONG_WAIT_MS = 15000;

/** ws(s)://HOST/chat/NAME for this page's origin. */
export function chatUrl(channel: string): string {
  const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${window.location.host}/chat/${encodeURIComponent(channel)}`;
}

export class ChatClient {
  private ws: WebSocket | null = null;
  private epoch: string | null = null;
  private since: number | null = null;
  private attempts = 0;
  private joined = false;
  private everJoined = false;
  private wanted = false;
  private tokenRetries = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastFrame = 0;
  private joinedAt = 0;
  /** Counts `open()` calls: a slower one (still fetching credentials) gives way to a newer one. */
  private opens = 0;

  constructor(
    private readonly url: string,
    private readonly credentials: () => Promise<Credentials>,
    private readonly h: ChatHandlers,
  ) {}

  get isJoined(): boolean {
    return this.joined;
  }

  connect(): void {
    this.wanted = true;
    this.attempts = 0;
    this.open();
  }

  /** Sends a command; false when not connected. */
  send(cmd: Record<string, unknown>): boolean {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || !this.joined) return false;
    this.ws.send(JSON.stringify(cmd));
    return true;
  }

  /**
   * Joins again with fresh credentials (a new token: after the account followed the channel,
   * say). The current connection stays until the credentials are ready, then gives way to a new
   * one that asks for exactly the events missed in between (`epoch` + `since`).
   */
  rejoin(): void {
    if (!this.wanted) return;
    this.attempts = 0;
    this.tokenRetries = 0;
    this.open(true);
  }

  close(): void {
    this.wanted = false;
    this.stopTimers();
    const ws = this.ws;
    this.ws = null;
    this.joined = false;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    this.h.onStatus('idle');
  }

  private stopTimers() {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.reconnectTimer = null;
    this.pingTimer = null;
  }

  /** Closes the current connection, if any, without reconnecting. */
  private dropSocket() {
    const ws = this.ws;
    this.ws = null;
    this.joined = false;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.pingTimer = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
  }

  /** `replace`: a rejoin, which keeps a joined connection (and its heartbeat) until the new one opens. */
  private async open(replace = false) {
    const keep = replace && this.joined;
    if (keep) {
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
      this.reconnectTimer = null;
    } else {
      this.stopTimers();
      this.h.onStatus(this.everJoined ? 'reconnecting' : 'connecting');
    }
    const run = ++this.opens;
    let creds: Credentials;
    try {
      creds = await this.credentials();
    } catch (e) {
      if (!this.wanted || run !== this.opens) return;
      if (keep && this.joined) {
        // The connection goes on with its old credentials; the rejoin is tried again later.
        this.attempts += 1;
        this.reconnectTimer = setTimeout(() => {
          this.reconnectTimer = null;
          if (this.wanted) this.open(true);
        }, this.backoff());
        return;
      }
      this.h.onStatus('reconnecting', `Could not join the chat: ${(e as Error).message}`);
      this.scheduleReconnect();
      return;
    }
    if (!this.wanted || run !== this.opens) return;
    // (A connection that dropped meanwhile scheduled a reconnect: this is it.)
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (this.ws) {
      // A rejoin: the events seen so far are counted in `since`; the new connection recovers the rest.
      this.dropSocket();
      this.h.onStatus('reconnecting');
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      const join: Record<string, unknown> = { type: 'join', ...creds };
      if (this.epoch !== null && this.since !== null) {
        join.epoch = this.epoch;
        join.since = this.since;
      }
      ws.send(JSON.stringify(join));
      this.lastFrame = Date.now();
      this.pingTimer = setInterval(() => this.heartbeat(), PING_MS);
    };
    ws.onmessage = (m) => {
      if (this.ws !== ws) return;
      this.lastFrame = Date.now();
      let frame: ChatEvent;
      try {
        frame = JSON.parse(String(m.data));
      } catch {
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // The backoff starts over only after a connection that lasted (not one dropped at once).
      if (this.joined && Date.now() - this.joinedAt > 10000) this.attempts = 0;
      this.joined = false;
      if (this.pingTimer) clearInterval(this.pingTimer);
      this.pingTimer = null;
      if (!this.wanted) return;
      if (e.code === 4004) {
        this.wanted = false;
        this.h.onStatus('closed', 'This channel was deleted.');
        return;
      }
      this.scheduleReconnect();
    };
  }

  private heartbeat() {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastFrame > PING_MS + PONG_WAIT_MS) {
      // Nothing heard for too long: the connection is dead without knowing it.
      ws.close(4001);
      this.ws = null;
      this.joined = false;
      this.scheduleReconnect();
      return;
    }
    ws.send('{"type":"ping"}');
  }

  private scheduleReconnect() {
    if (!this.wanted) return;
    this.stopTimers();
    this.attempts += 1;
    this.h.onStatus('reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.wanted) this.open();
    }, this.backoff());
  }

  /** The wait before attempt number `attempts`: 1 s doubling up to 30 s, with jitter. */
  private backoff(): number {
    const base = Math.min(30000, 1000 * 2 ** Math.min(Math.max(this.attempts, 1) - 1, 5));
    return base / 2 + Math.random() * (base / 2);
  }

  private track(e: ChatEvent) {
    if (typeof e.offset === 'number' && (this.since === null || e.offset > this.since)) this.since = e.offset;
  }

  private onFrame(frame: ChatEvent) {
    switch (frame.type) {
      case 'joined': {
        const j = frame as unknown as Joined;
        const rejoin = this.everJoined;
        const recovered = Boolean(j.recovered) && j.epoch === this.epoch;
        this.joined = true;
        this.everJoined = true;
        this.joinedAt = Date.now();
        this.tokenRetries = 0;
        this.epoch = j.epoch;
        if (!recovered) this.since = null;
        for (const e of j.backlog || []) this.track(e);
        if (typeof j.offset === 'number' && (this.since === null || j.offset > this.since)) this.since = j.offset;
        this.h.onStatus('joined');
        this.h.onJoined(j, recovered, rejoin);
        return;
      }
      case 'pong':
        return;
      case 'presence':
        if (typeof frame.viewers === 'number') this.h.onPresence(frame.viewers);
        return;
      case 'error': {
        const err = frame as unknown as ChatErrorFrame;
        if (!this.joined) {
          if (err.reason === 'bad_token' && this.tokenRetries < 1) {
            // An expired token: ask for a new one.
            this.tokenRetries += 1;
            this.ws?.close(1000);
            this.ws = null;
            this.open();
            return;
          }
          if (err.reason !== 'rate_limited') {
            this.close();
            this.h.onError(err, true);
            return;
          }
        }
        this.h.onError(err, false);
        return;
      }
      case 'batch': {
        const events = Array.isArray(frame.events) ? (frame.events as ChatEvent[]) : [];
        for (const e of events) {
          this.track(e);
          this.h.onEvent(e);
        }
        return;
      }
      default:
        this.track(frame);
        this.h.onEvent(frame);
    }
  }
}
