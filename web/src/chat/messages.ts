// What the chat shows in words: refusals (docs/CHAT.md's `error` reasons) and the system lines of
// moderation and mode events.
import { spanWords, unescapeHtml } from '../util';
import type { ChatErrorFrame, ChatEvent } from './client';

export const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export interface ErrorContext {
  /** Why I was timed out / banned, when the event said. */
  timeoutReason: string | null;
  banReason: string | null;
  /** I chat as a guest (a bare name): following needs an account first. */
  guest: boolean;
}

/** A refusal in polite words. `guests_not_allowed` is shown with a log-in link (Chat.tsx). */
export function friendlyError(e: ChatErrorFrame, ctx: ErrorContext): string {
  const secs = typeof e.retry_after_ms === 'number' ? Math.max(1, Math.ceil(e.retry_after_ms / 1000)) : null;
  const server = e.message || '';
  switch (e.reason) {
    case 'timed_out': {
      const why = ctx.timeoutReason || (server && !/^you are timed out\.?$/i.test(server) ? server : null);
      const left = secs !== null ? ` for ${secs} more second${secs === 1 ? '' : 's'}` : '';
      return `You are timed out${left}${why ? `: ${why}` : '.'}`;
    }
    case 'banned':
      return `You are banned from this chat${ctx.banReason ? `: ${ctx.banReason}` : '.'}`;
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
      return ctx.guest
        ? 'Only followers can chat here right now: log in and follow the channel to join in.'
        : 'Only followers can chat here right now: click Follow to join in.';
    case 'guests_not_allowed':
      return 'Log in to chat in this channel.';
    default:
      return server || e.reason;
  }
}

/** The system line of a moderation or mode event; null for events that are not shown so. */
export function describe(e: ChatEvent): string | null {
  const by = str(e.by);
  const byWhom = by ? ` (by ${by})` : '';
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
      return secs > 0 ? `Slow mode is on: one message every ${spanWords(secs)}${byWhom}` : `Slow mode is off${byWhom}`;
    }
    case 'clear':
      return `Chat was cleared${by ? ` by ${by}` : ''}`;
    case 'followers':
      return e.on ? `Followers-only mode is on${byWhom}` : `Followers-only mode is off${byWhom}`;
    case 'guests':
      return e.allowed !== false ? `Guests may chat${byWhom}` : `Guests may no longer chat: log in to chat${byWhom}`;
    default:
      return null;
  }
}
