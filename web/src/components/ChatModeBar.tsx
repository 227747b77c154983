// The chat's room modes for the streamer and moderators (docs/CHAT.md "Room modes"): slow mode,
// followers-only, guests allowed, and clearing the chat. Each control sends the command; what it
// shows comes back as the room's event (or `joined`), so it always tells the room's real state.

const SLOW_CHOICES = [0, 3, 10, 30, 60, 120];

interface Props {
  slow: number;
  followersOnly: boolean;
  guestsAllowed: boolean;
  /** Sends a moderation command on the socket. */
  command(cmd: Record<string, unknown>): void;
}

export function ChatModeBar({ slow, followersOnly, guestsAllowed, command }: Props) {
  const choices = SLOW_CHOICES.includes(slow) ? SLOW_CHOICES : [...SLOW_CHOICES, slow];
  return (
    <div class="chat-modbar" role="group" aria-label="Chat modes" data-testid="chat-modbar">
      <label>
        Slow mode{' '}
        <select
          value={String(slow)}
          data-testid="mod-slow"
          onChange={(e) => command({ type: 'slow', seconds: Number((e.currentTarget as HTMLSelectElement).value) })}
        >
          {choices.map((s) => (
            <option key={s} value={String(s)}>
              {s === 0 ? 'off' : `${s} s`}
            </option>
          ))}
        </select>
      </label>
      <button
        type="button"
        class={`btn small ghost toggle${followersOnly ? ' on' : ''}`}
        aria-pressed={followersOnly}
        title={followersOnly ? 'Only followers may chat: click to let every viewer chat' : 'Let only followers chat'}
        data-testid="mod-followers"
        onClick={() => command({ type: 'followers', on: !followersOnly })}
      >
        Followers-only
      </button>
      <button
        type="button"
        class={`btn small ghost toggle${guestsAllowed ? ' on' : ''}`}
        aria-pressed={guestsAllowed}
        title={guestsAllowed ? 'Guests may chat: click to require an account' : 'Only accounts may chat: click to let guests chat'}
        data-testid="mod-guests"
        onClick={() => command({ type: 'guests', allowed: !guestsAllowed })}
      >
        Guests allowed
      </button>
      <button type="button" class="btn small ghost" data-testid="mod-clear" onClick={() => command({ type: 'clear' })}>
        Clear chat
      </button>
    </div>
  );
}
