// The watch page's chat (docs/CHAT.md): read-only history until someone joins (the account's
// token, or a guest name), then the live room with moderation for the streamer and moderators,
// the room's modes (slow, followers-only, guests) and polite refusals.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { ApiError, api, get, seg } from '../api';
import { ChatClient, ChatEvent, ChatStatus, Joined, Role, chatUrl } from '../chat/client';
import { describe, friendlyError, str } from '../chat/messages';
import { useSession } from '../session';
import { unescapeHtml } from '../util';
import { ChatLine, Line, MessageLine, ModFormState, SystemLine } from './ChatLine';
import { ChatModeBar } from './ChatModeBar';

const MAX_LINES = 300;
const TIMEOUT_SECONDS = 600;
const NAME_KEY = 'ferrocast.chatName';

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

let sysCounter = 0;
const sys = (text: string, unban?: string): SystemLine => ({ kind: 'sys', key: `sys-${++sysCounter}`, text, unban });

interface Props {
  channel: string;
  /** Whether guests may chat (the watch API's `chat.guests`); the room's events update it. */
  guests: boolean;
  /** Whether only followers may chat (the watch API's `chat.followers_only`). */
  followersOnly?: boolean;
  /**
   * Changes when the viewer follows or unfollows: the chat joins again with a fresh token (which
   * says whether the account follows) and recovers what it missed meanwhile.
   */
  generation?: number;
  /** Follows the channel (offered when a followers-only refusal says so). */
  onFollow?: () => void;
}

interface Me {
  name: string;
  role: Role;
  follower: boolean;
}

/** A refusal shown under the input: its words and the server's reason. */
interface ErrorLine {
  text: string;
  reason?: string;
}

export function Chat({ channel, guests, followersOnly: followersOnlyProp = false, generation = 0, onFollow }: Props) {
  const session = useSession();
  const [lines, setLines] = useState<Line[]>([]);
  const [you, setYou] = useState<Me | null>(null);
  const [viewers, setViewers] = useState<number | null>(null);
  const [slow, setSlow] = useState(0);
  const [followersOnly, setFollowersOnly] = useState(followersOnlyProp);
  const [guestsAllowed, setGuestsAllowed] = useState(guests);
  const [status, setStatus] = useState<ChatStatus>('idle');
  const [statusDetail, setStatusDetail] = useState<string | null>(null);
  const [error, setErrorLine] = useState<ErrorLine | null>(null);
  const setError = (text: string | null, reason?: string) => setErrorLine(text === null ? null : { text, reason });
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
  const [modForm, setModForm] = useState<ModFormState | null>(null);
  const clientRef = useRef<ChatClient | null>(null);
  const youRef = useRef(you);
  youRef.current = you;
  const myReasons = useRef<{ timeout: string | null; ban: string | null }>({ timeout: null, ban: null });
  const lastSent = useRef('');
  const textRef = useRef(text);
  textRef.current = text;
  const logRef = useRef<HTMLOListElement>(null);
  const stick = useRef(true);

  const signedIn = session.loaded && session.user !== null && !tokenUnavailable;
  // Who joins: the account (a token), a guest who gave a name, or nobody yet.
  const mode: 'token' | 'guest' | 'none' = signedIn ? 'token' : guestJoin ? 'guest' : 'none';
  const loginHref = `/login?next=/${encodeURIComponent(channel)}`;

  // The watch API's view of the modes (refreshed by the page) until the room tells otherwise.
  useEffect(() => setGuestsAllowed(guests), [guests]);
  useEffect(() => setFollowersOnly(followersOnlyProp), [followersOnlyProp]);

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
        youRef.current = { name: j.you.name, role: j.you.role, follower: Boolean(j.you.follower) };
        setYou(youRef.current);
        setViewers(j.viewers);
        setSlow(j.slow || 0);
        setFollowersOnly(Boolean(j.followers_only));
        setGuestsAllowed(j.guests !== false);
        // A refusal for a mode may no longer hold (a rejoin after following, say): tried again on send.
        setErrorLine((prev) => (prev && (prev.reason === 'followers_only' || prev.reason === 'guests_not_allowed') ? null : prev));
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
        if (j.you.banned) setError('You are banned from this chat.', 'banned');
      },
      onEvent: (e) => {
        if (e.type === 'slow') setSlow(typeof e.seconds === 'number' ? e.seconds : 0);
        if (e.type === 'followers') setFollowersOnly(Boolean(e.on));
        if (e.type === 'guests') setGuestsAllowed(e.allowed !== false);
        setLines((prev) => trim(apply(prev, e)));
      },
      onPresence: (n) => setViewers(n),
      onError: (e, join) => {
        const ctx = { timeoutReason: myReasons.current.timeout, banReason: myReasons.current.ban, guest: mode === 'guest' };
        setError(friendlyError(e, ctx), e.reason);
        if (join) {
          // A refused join: a guest picks another name (or, when guests are turned away, logs in).
          if (e.reason === 'guests_not_allowed') setGuestsAllowed(false);
          if (mode === 'guest') setGuestJoin(null);
          return;
        }
        const retry = ['timed_out', 'banned', 'rate_limited', 'slow_mode', 'duplicate', 'followers_only', 'guests_not_allowed'];
        if (retry.includes(e.reason) && !textRef.current) setText(lastSent.current);
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
  }, [channel, mode, guestJoin, session.loaded, session.user?.name]);

  // After a follow or unfollow: the same connection's place in the room, with a fresh token.
  const seenGeneration = useRef(generation);
  useEffect(() => {
    if (generation === seenGeneration.current) return;
    seenGeneration.current = generation;
    clientRef.current?.rejoin();
  }, [generation]);

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

  const command = (cmd: Record<string, unknown>) => {
    if (!clientRef.current?.send(cmd)) setError('Not connected to the chat.');
  };

  const joined = status === 'joined' && you !== null;
  const isMod = joined && (you.role === 'moderator' || you.role === 'streamer');
  const canModerate = (u: { name: string; role: Role }) => {
    if (!isMod || same(u.name, you.name) || u.role === 'streamer') return false;
    return you.role === 'streamer' || u.role === 'viewer';
  };
  const submitMod = (form: ModFormState, reason: string) => {
    const why = reason ? { reason } : {};
    if (form.mode === 'timeout') command({ type: 'timeout', user: form.user, seconds: TIMEOUT_SECONDS, ...why });
    else command({ type: 'ban', user: form.user, ...why });
    setModForm(null);
  };

  // What the input says when a mode keeps me from posting (I may still try: the refusal explains).
  const bound = joined && you.role === 'viewer';
  const placeholder = !joined
    ? 'Connecting…'
    : bound && mode === 'guest' && !guestsAllowed
      ? 'Log in to chat in this channel'
      : bound && followersOnly && !you.follower
        ? 'Only followers can chat right now'
        : `Chat as ${you.name}${slow ? ` (slow mode: ${slow} s)` : ''}`;

  return (
    <aside
      class="chat"
      aria-label="Chat"
      data-testid="chat"
      data-role={you?.role ?? ''}
      data-joined={joined ? 'yes' : 'no'}
      data-follower={you?.follower ? 'yes' : 'no'}
    >
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
      {isMod && <ChatModeBar slow={slow} followersOnly={followersOnly} guestsAllowed={guestsAllowed} command={command} />}
      <ol class="chat-log" ref={logRef} onScroll={onScroll} role="log" aria-live="polite" data-testid="chat-log" tabIndex={0}>
        {lines.length === 0 && <li class="chat-system muted">Welcome to the chat!</li>}
        {lines.map((l) => (
          <ChatLine
            key={l.key}
            line={l}
            moderate={l.kind === 'sys' ? isMod : canModerate(l.user)}
            form={modForm && modForm.lineKey === l.key ? modForm : null}
            command={command}
            setForm={setModForm}
            submitForm={submitMod}
          />
        ))}
      </ol>
      <div class="chat-foot">
        {mode === 'none' && !signedIn && session.loaded && guestsAllowed && (
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
              or <a href={loginHref}>log in</a> to chat with your account
              {followersOnly ? ' (followers-only mode is on: only followers can post)' : ''}
            </p>
          </form>
        )}
        {mode === 'none' && !signedIn && session.loaded && !guestsAllowed && (
          <p class="muted chat-login-needed" data-testid="chat-login-needed">
            <a href={loginHref}>Log in</a> to chat in this channel.
          </p>
        )}
        {mode !== 'none' && (
          <form class="chat-send" onSubmit={send}>
            <label for="chat-input" class="sr-only">
              Send a message
            </label>
            <input
              id="chat-input"
              type="text"
              maxLength={500}
              autoComplete="off"
              placeholder={placeholder}
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
          {error?.reason === 'guests_not_allowed' ? (
            <>
              <a href={loginHref}>Log in</a> to chat in this channel.
            </>
          ) : (
            error?.text ?? ''
          )}
          {error?.reason === 'followers_only' && mode === 'token' && onFollow && (
            <button type="button" class="btn tiny primary" data-testid="chat-follow" onClick={onFollow}>
              ♡ Follow
            </button>
          )}
        </p>
      </div>
    </aside>
  );
}
