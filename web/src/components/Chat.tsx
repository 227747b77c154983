import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, get, seg } from '../api';
import { ChatClient, ChatErrorFrame, ChatEvent, ChatStatus, Joined, Role, chatUrl } from '../chat/client';
import { useSession } from '../session';
import { nameColor, spanWords, unescapeHtml } from '../util';

interface MessageLine {
  kind: 'msg';
  key: string;
  id: string;
  ts: number;
  user: { name: string; role: Role };
  text: string;
}
interface SystemLine {
  kind: 'sys';
  key: string;
  text: string;
  /** A banned user a moderator may unban from this line. */
  unban?: string;
}
type Line = MessageLine | SystemLine;

const MAX_LINES = 300;
const TIMEOUT_SECONDS = 600;
const NAME_KEY = 'ferrocast.chatName';

interface ModForm {
  mode: 'timeout' | 'ban';
  user: string;
  lineKey: string;
  reason: string;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

let sysCounter = 0;
const sys = (text: string, unban?: string): SystemLine => ({ kind: 'sys', key: `sys-${++sysCounter}`, text, unban });

function friendlyError(e: ChatErrorFrame, timeoutReason: string | null, banReason: string | null): string {
  const secs = typeof e.retry_after_ms === 'number' ? Math.max(1, Math.ceil(e.retry_after_ms / 1000)) : null;
  const server = e.message || '';
  switch (e.reason) {
    case 'timed_out': {
      const why = timeoutReason || (server && !/^you are timed out\.?$/i.test(server) ? server : null);
      const left = secs !== null ? ` for ${secs} more second${secs === 1 ? '' : 's'}` : '';
      return `You are timed out${left}${why ? `: ${why}` : '.'}`;
    }
    case 'banned':
      return `You are banned from this chat${banReason ? `: ${banReason}` : '.'}`;
    case 'rate_limited':
      return `You are sending messages too quickly.${secs !== null ? ` Try again in ${secs} s.` : ''}`;
    case 'slow_mode':
      return `Slow mode is on.${secs !== null ? ` You can send another message in ${secs} s.` : ''}`;
    case 'too_long':
      return 'That message is too long: 500 characters at most.';
    case 'duplicate':
      return 'You just sent that message. Say something new.';
    case 'empty':
      return 'Type a message first.';
    case 'name_taken':
      return 'Someone in this chat already uses that name. Pick another.';
    case 'invalid_name':
      return 'Chat names are 2–25 letters, digits or _, starting with a letter or digit.';
    case 'name_reserved':
      return 'That name is reserved. Pick another.';
    case 'bad_token':
      return 'Your chat session expired. Reload the page to join again.';
    case 'forbidden':
      return server ? `You can't do that: ${server}.` : "You can't do that.";
    case 'not_joined':
      return 'Join the chat first.';
    case 'followers_only':
      return 'Only followers can chat here right now. Follow the channel to join in.';
    case 'guests_not_allowed':
      return 'Log in to chat in this channel.';
    default:
      return server || e.reason;
  }
}

function describe(e: ChatEvent): string | null {
  const by = str(e.by);
  const user = str(e.user);
  const reason = e.reason ? unescapeHtml(str(e.reason)) : '';
  switch (e.type) {
    case 'timeout': {
      const secs = typeof e.seconds === 'number' ? e.seconds : 0;
      return `${user} was timed out for ${spanWords(secs)}${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}`;
    }
    case 'ban':
      return `${user} was banned${by ? ` by ${by}` : ''}${reason ? `: ${reason}` : ''}`;
    case 'unban':
      return `${user} was unbanned${by ? ` by ${by}` : ''}`;
    case 'slow': {
      const secs = typeof e.seconds === 'number' ? e.seconds : 0;
      return secs > 0 ? `Slow mode on: one message every ${spanWords(secs)}` : 'Slow mode off';
    }
    case 'clear':
      return `Chat was cleared${by ? ` by ${by}` : ''}`;
    case 'followers':
      return e.on ? `Followers-only mode on${by ? ` (by ${by})` : ''}` : 'Followers-only mode off';
    case 'guests':
      return e.allowed ? 'Guests may chat again' : `Guests can no longer chat: log in to chat${by ? ` (by ${by})` : ''}`;
    default:
      return null;
  }
}

interface Props {
  channel: string;
  /** Whether guests may chat (the watch API's `chat.guests`). */
  guests: boolean;
  /** Changes when the viewer follows or unfollows: the chat rejoins with a token that says so. */
  generation?: number;
}

export function Chat({ channel, guests, generation = 0 }: Props) {
  const session = useSession();
  const [lines, setLines] = useState<Line[]>([]);
  const [you, setYou] = useState<{ name: string; role: Role } | null>(null);
  const [viewers, setViewers] = useState<number | null>(null);
  const [slow, setSlow] = useState(0);
  const [followersOnly, setFollowersOnly] = useState(false);
  const [guestsAllowed, setGuestsAllowed] = useState(guests);
  const [status, setStatus] = useState<ChatStatus>('idle');
  const [statusDetail, setStatusDetail] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [guestName, setGuestName] = useState(() => {
    try {
      return localStorage.getItem(NAME_KEY) || '';
    } catch {
      return '';
    }
  });
  const [guestJoin, setGuestJoin] = useState<string | null>(null);
  const [tokenUnavailable, setTokenUnavailable] = useState(false);
  const [modForm, setModForm] = useState<ModForm | null>(null);
  const clientRef = useRef<ChatClient | null>(null);
  const youRef = useRef(you);
  youRef.current = you;
  const myReasons = useRef<{ timeout: string | null; ban: string | null }>({ timeout: null, ban: null });
  const lastSent = useRef('');
  const textRef = useRef(text);
  textRef.current = text;
  const logRef = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const inputRef = useRef<HTMLInputElement>(null);
  const reasonRef = useRef<HTMLInputElement>(null);
  const modKey = modForm ? `${modForm.mode}:${modForm.lineKey}` : null;
  useEffect(() => {
    if (modKey) reasonRef.current?.focus();
  }, [modKey]);

  const signedIn = session.loaded && session.user !== null && !tokenUnavailable;
  // Who joins: the account (a token), a guest who gave a name, or nobody yet.
  const mode: 'token' | 'guest' | 'none' = signedIn ? 'token' : guestJoin ? 'guest' : 'none';

  // Applies one event of the ordered stream to the view.
  const apply = (list: Line[], e: ChatEvent): Line[] => {
    switch (e.type) {
      case 'message': {
        const u = (e.user || {}) as { name?: string; role?: Role };
        const line: MessageLine = {
          kind: 'msg',
          key: str(e.id) || `m-${e.offset}`,
          id: str(e.id),
          ts: typeof e.ts === 'number' ? e.ts : Date.now(),
          user: { name: str(u.name), role: (u.role as Role) || 'viewer' },
          text: unescapeHtml(str(e.text)),
        };
        if (list.some((l) => l.key === line.key)) return list;
        return [...list, line];
      }
      case 'delete':
        return list.filter((l) => !(l.kind === 'msg' && l.id === e.target));
      case 'timeout':
      case 'ban': {
        const user = str(e.user);
        const me = youRef.current;
        if (me && same(me.name, user)) {
          const reason = e.reason ? unescapeHtml(str(e.reason)) : null;
          if (e.type === 'timeout') myReasons.current.timeout = reason;
          else myReasons.current.ban = reason;
        }
        const kept = list.filter((l) => !(l.kind === 'msg' && same(l.user.name, user)));
        return [...kept, sys(describe(e) || '', e.type === 'ban' ? user : undefined)];
      }
      case 'clear':
        return [sys(describe(e) || '')];
      case 'unban':
      case 'followers':
      case 'guests':
      case 'slow': {
        const me = youRef.current;
        if (e.type === 'unban' && me && same(me.name, str(e.user))) myReasons.current.ban = null;
        return [...list, sys(describe(e) || '')];
      }
      default:
        return list;
    }
  };
  const trim = (list: Line[]) => (list.length > MAX_LINES ? list.slice(list.length - MAX_LINES) : list);

  // Before joining, the stored history (public) is shown read-only.
  useEffect(() => {
    if (mode !== 'none') return;
    let stop = false;
    get<{ messages: ChatEvent[] }>(`/api/v1/channels/${seg(channel)}/chat?limit=50`)
      .then((h) => {
        if (stop || !h || !Array.isArray(h.messages)) return;
        setLines((prev) => (prev.length ? prev : trim(h.messages.reduce(apply, [] as Line[]))));
      })
      .catch(() => {
        // Nothing to show until joining.
      });
    return () => {
      stop = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [channel, mode]);

  // The socket, while someone has joined.
  useEffect(() => {
    if (mode === 'none' || !session.loaded) return;
    setError(null);
    const credentials =
      mode === 'token'
        ? async () => {
            try {
              const t = await api<{ token: string }>('POST', `/api/v1/channels/${seg(channel)}/chat/session-token`);
              return { token: t.token };
            } catch (e) {
              if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 429) {
                // No account chat here (no such route, the session is gone, the account's name is
                // reserved in this room): the account cannot join; a guest name can.
                setTokenUnavailable(true);
                if (e.status !== 404 && e.status !== 401) {
                  setError(
                    e.code === 'name_reserved'
                      ? `Your account's name is reserved in this chat, so you can't join with it here: ${e.message}. Pick a guest name instead.`
                      : `Could not join the chat with your account: ${e.message}`,
                  );
                }
              }
              throw e;
            }
          }
        : async () => ({ name: guestJoin as string });
    const client = new ChatClient(chatUrl(channel), credentials, {
      onStatus: (s, detail) => {
        setStatus(s);
        setStatusDetail(detail ?? null);
      },
      onJoined: (j: Joined, recovered: boolean, rejoin: boolean) => {
        youRef.current = { name: j.you.name, role: j.you.role };
        setYou(youRef.current);
        setViewers(j.viewers);
        setSlow(j.slow || 0);
        setFollowersOnly(Boolean(j.followers_only));
        setGuestsAllowed(j.guests !== false);
        if (mode === 'guest') {
          try {
            localStorage.setItem(NAME_KEY, j.you.name);
          } catch {
            // private mode
          }
        }
        setLines((prev) => {
          if (recovered) return trim((j.backlog || []).reduce(apply, prev));
          const fresh = (j.backlog || []).reduce(apply, [] as Line[]);
          return trim(rejoin ? [...fresh, sys('Reconnected to the chat.')] : fresh);
        });
        if (j.you.banned) setError('You are banned from this chat.');
      },
      onEvent: (e) => {
        if (e.type === 'slow') setSlow(typeof e.seconds === 'number' ? e.seconds : 0);
        if (e.type === 'followers') setFollowersOnly(Boolean(e.on));
        if (e.type === 'guests') setGuestsAllowed(e.allowed !== false);
        setLines((prev) => trim(apply(prev, e)));
      },
      onPresence: (n) => setViewers(n),
      onError: (e, join) => {
        setError(friendlyError(e, myReasons.current.timeout, myReasons.current.ban));
        if (join) {
          // A refused join: a guest picks another name.
          if (mode === 'guest') setGuestJoin(null);
          return;
        }
        if (['timed_out', 'banned', 'rate_limited', 'slow_mode', 'duplicate'].includes(e.reason) && !textRef.current) {
          setText(lastSent.current);
        }
      },
    });
    clientRef.current = client;
    client.connect();
    return () => {
      client.close();
      clientRef.current = null;
      setYou(null);
      youRef.current = null;
      setStatus('idle');
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [channel, mode, guestJoin, session.loaded, session.user?.name, generation]);

  // Keep the newest message in view unless the reader scrolled up.
  useLayoutEffect(() => {
    const el = logRef.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);
  const onScroll = () => {
    const el = logRef.current;
    if (el) stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  };

  const send = (e: Event) => {
    e.preventDefault();
    const t = text.trim();
    if (!t) return;
    if (!clientRef.current?.send({ type: 'send', text: t })) {
      setError('Not connected to the chat yet.');
      return;
    }
    lastSent.current = t;
    setText('');
    setError(null);
    stick.current = true;
  };

  const joinAsGuest = (e: Event) => {
    e.preventDefault();
    const n = guestName.trim();
    if (!n) {
      setError('Type a name to join the chat.');
      return;
    }
    setError(null);
    setGuestJoin(n);
  };

  const moderate = (cmd: Record<string, unknown>) => {
    if (!clientRef.current?.send(cmd)) setError('Not connected to the chat.');
  };

  const canModerate = (u: { name: string; role: Role }) => {
    if (!you || (you.role !== 'moderator' && you.role !== 'streamer')) return false;
    if (same(u.name, you.name) || u.role === 'streamer') return false;
    return you.role === 'streamer' || u.role === 'viewer';
  };
  const isMod = you !== null && (you.role === 'moderator' || you.role === 'streamer');

  const submitMod = (e: Event) => {
    e.preventDefault();
    if (!modForm) return;
    const reason = modForm.reason.trim();
    if (modForm.mode === 'timeout') {
      moderate({ type: 'timeout', user: modForm.user, seconds: TIMEOUT_SECONDS, ...(reason ? { reason } : {}) });
    } else {
      moderate({ type: 'ban', user: modForm.user, ...(reason ? { reason } : {}) });
    }
    setModForm(null);
  };

  const joined = status === 'joined' && you !== null;

  return (
    <aside class="chat" aria-label="Chat" data-testid="chat" data-role={you?.role ?? ''} data-joined={joined ? 'yes' : 'no'}>
      <div class="chat-head">
        <h2>Chat</h2>
        <span class="muted small" data-testid="chat-status">
          {status === 'connecting'
            ? 'Connecting…'
            : status === 'reconnecting'
              ? statusDetail || 'Reconnecting…'
              : status === 'closed'
                ? statusDetail || 'Closed'
                : ''}
        </span>
        {viewers !== null && (
          <span class="chat-viewers" data-testid="chat-viewers" title="People in the chat">
            {viewers} in chat
          </span>
        )}
      </div>
      {isMod && joined && (
        <div class="chat-modbar" data-testid="chat-modbar">
          <label>
            Slow mode{' '}
            <select
              value={String(slow)}
              data-testid="mod-slow"
              onChange={(e) => moderate({ type: 'slow', seconds: Number((e.currentTarget as HTMLSelectElement).value) })}
            >
              {[0, 3, 10, 30, 60, 120].concat([0, 3, 10, 30, 60, 120].includes(slow) ? [] : [slow]).map((s) => (
                <option key={s} value={String(s)}>
                  {s === 0 ? 'off' : `${s} s`}
                </option>
              ))}
            </select>
          </label>
          <button type="button" class="btn small ghost" data-testid="mod-clear" onClick={() => moderate({ type: 'clear' })}>
            Clear chat
          </button>
          <button
            type="button"
            class="btn small ghost"
            aria-pressed={followersOnly}
            data-testid="mod-followers"
            onClick={() => moderate({ type: 'followers', on: !followersOnly })}
          >
            Followers-only: {followersOnly ? 'on' : 'off'}
          </button>
          <button
            type="button"
            class="btn small ghost"
            aria-pressed={guestsAllowed}
            data-testid="mod-guests"
            onClick={() => moderate({ type: 'guests', allowed: !guestsAllowed })}
          >
            Guests: {guestsAllowed ? 'allowed' : 'off'}
          </button>
        </div>
      )}
      <ol class="chat-log" ref={logRef} onScroll={onScroll} role="log" aria-live="polite" data-testid="chat-log" tabIndex={0}>
        {lines.length === 0 && <li class="chat-system muted">Welcome to the chat!</li>}
        {lines.map((l) =>
          l.kind === 'sys' ? (
            <li key={l.key} class="chat-system" data-testid="chat-system">
              {l.text}
              {l.unban && isMod && joined && (
                <button
                  type="button"
                  class="btn tiny ghost"
                  data-testid="mod-unban"
                  onClick={() => moderate({ type: 'unban', user: l.unban })}
                >
                  Unban
                </button>
              )}
            </li>
          ) : (
            <li key={l.key} class="chat-msg" data-testid="chat-message" data-id={l.id} data-user={l.user.name}>
              <span class="chat-line">
                {l.user.role !== 'viewer' && (
                  <span class={`role role-${l.user.role}`} title={l.user.role}>
                    {l.user.role === 'streamer' ? 'HOST' : 'MOD'}
                  </span>
                )}
                <span class="chat-name" style={{ color: nameColor(l.user.name) }} title={new Date(l.ts).toLocaleTimeString()}>
                  {l.user.name}
                </span>
                <span class="chat-sep">: </span>
                <span class="chat-text" data-testid="chat-text">
                  {l.text}
                </span>
              </span>
              {joined && canModerate(l.user) && (
                <span class="chat-actions">
                  <button
                    type="button"
                    class="btn tiny ghost"
                    data-testid="mod-delete"
                    aria-label={`Delete this message by ${l.user.name}`}
                    onClick={() => moderate({ type: 'delete', id: l.id })}
                  >
                    Delete
                  </button>
                  <button
                    type="button"
                    class="btn tiny ghost"
                    data-testid="mod-timeout"
                    aria-label={`Time out ${l.user.name}`}
                    onClick={() => setModForm({ mode: 'timeout', user: l.user.name, lineKey: l.key, reason: '' })}
                  >
                    Timeout
                  </button>
                  <button
                    type="button"
                    class="btn tiny ghost danger"
                    data-testid="mod-ban"
                    aria-label={`Ban ${l.user.name}`}
                    onClick={() => setModForm({ mode: 'ban', user: l.user.name, lineKey: l.key, reason: '' })}
                  >
                    Ban
                  </button>
                </span>
              )}
              {modForm && modForm.lineKey === l.key && (
                <form class="mod-form" onSubmit={submitMod} data-testid="mod-form">
                  <span>
                    {modForm.mode === 'timeout' ? `Time out ${modForm.user} for 10 minutes` : `Ban ${modForm.user}`}
                  </span>
                  <label>
                    <span class="sr-only">Reason (optional)</span>
                    <input
                      type="text"
                      placeholder="Reason (optional)"
                      maxLength={200}
                      value={modForm.reason}
                      data-testid="mod-reason"
                      ref={reasonRef}
                      onInput={(e) => setModForm({ ...modForm, reason: (e.currentTarget as HTMLInputElement).value })}
                    />
                  </label>
                  <button type="submit" class="btn tiny primary" data-testid="mod-confirm">
                    {modForm.mode === 'timeout' ? 'Time out' : 'Ban'}
                  </button>
                  <button type="button" class="btn tiny ghost" data-testid="mod-cancel" onClick={() => setModForm(null)}>
                    Cancel
                  </button>
                </form>
              )}
            </li>
          ),
        )}
      </ol>
      <div class="chat-foot">
        {mode === 'none' && !signedIn && session.loaded && guests && (
          <form class="chat-join" onSubmit={joinAsGuest}>
            <label for="chat-name">Chat name</label>
            <div class="row">
              <input
                id="chat-name"
                type="text"
                autoComplete="nickname"
                maxLength={25}
                value={guestName}
                placeholder="Pick a name"
                data-testid="chat-name"
                onInput={(e) => setGuestName((e.currentTarget as HTMLInputElement).value)}
              />
              <button type="submit" class="btn primary" data-testid="chat-join">
                Join chat
              </button>
            </div>
            <p class="muted small">
              or <a href={`/login?next=/${encodeURIComponent(channel)}`}>log in</a> to chat with your account
            </p>
          </form>
        )}
        {mode === 'none' && !signedIn && session.loaded && !guests && (
          <p class="muted" data-testid="chat-login-needed">
            <a href={`/login?next=/${encodeURIComponent(channel)}`}>Log in</a> to chat.
          </p>
        )}
        {mode !== 'none' && (
          <form class="chat-send" onSubmit={send}>
            <label for="chat-input" class="sr-only">
              Send a message
            </label>
            <input
              id="chat-input"
              ref={inputRef}
              type="text"
              maxLength={500}
              autoComplete="off"
              placeholder={joined ? `Chat as ${you?.name}${slow ? ` (slow mode: ${slow} s)` : ''}` : 'Connecting…'}
              value={text}
              disabled={!joined}
              data-testid="chat-input"
              onInput={(e) => setText((e.currentTarget as HTMLInputElement).value)}
            />
            <button type="submit" class="btn primary" disabled={!joined || !text.trim()} data-testid="chat-send">
              Send
            </button>
          </form>
        )}
        <p class="chat-error" data-testid="chat-error" aria-live="polite" role="status">
          {error || ''}
        </p>
      </div>
    </aside>
  );
}
