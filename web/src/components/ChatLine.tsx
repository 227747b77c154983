// One line of the chat log: a message (with the moderation buttons a moderator may use on it and
// the timeout / ban form), or a system line (moderation and mode events; a ban line has Unban).
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Role } from '../chat/client';
import { nameColor } from '../util';

export interface MessageLine {
  kind: 'msg';
  key: string;
  id: string;
  ts: number;
  user: { name: string; role: Role };
  text: string;
}
export interface SystemLine {
  kind: 'sys';
  key: string;
  text: string;
  /** A banned user a moderator may unban from this line. */
  unban?: string;
}
export type Line = MessageLine | SystemLine;

/** The timeout or ban form open under a message. */
export interface ModFormState {
  mode: 'timeout' | 'ban';
  user: string;
  lineKey: string;
}

interface Props {
  line: Line;
  /** I may moderate this line's author (messages) or unban (ban lines). */
  moderate: boolean;
  /** The form open under this line, if any. */
  form: ModFormState | null;
  command(cmd: Record<string, unknown>): void;
  setForm(form: ModFormState | null): void;
  /** Sends the open form's timeout or ban with the reason typed. */
  submitForm(form: ModFormState, reason: string): void;
}

export function ChatLine({ line: l, moderate, form, command, setForm, submitForm }: Props) {
  if (l.kind === 'sys') {
    return (
      <li class="chat-system" data-testid="chat-system">
        {l.text}
        {l.unban && moderate && (
          <button type="button" class="btn tiny ghost" data-testid="mod-unban" onClick={() => command({ type: 'unban', user: l.unban })}>
            Unban
          </button>
        )}
      </li>
    );
  }
  return (
    <li class="chat-msg" data-testid="chat-message" data-id={l.id} data-user={l.user.name}>
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
      {moderate && (
        <span class="chat-actions">
          <button
            type="button"
            class="btn tiny ghost"
            data-testid="mod-delete"
            aria-label={`Delete this message by ${l.user.name}`}
            onClick={() => command({ type: 'delete', id: l.id })}
          >
            Delete
          </button>
          <button
            type="button"
            class="btn tiny ghost"
            data-testid="mod-timeout"
            aria-label={`Time out ${l.user.name}`}
            onClick={() => setForm({ mode: 'timeout', user: l.user.name, lineKey: l.key })}
          >
            Timeout
          </button>
          <button
            type="button"
            class="btn tiny ghost danger"
            data-testid="mod-ban"
            aria-label={`Ban ${l.user.name}`}
            onClick={() => setForm({ mode: 'ban', user: l.user.name, lineKey: l.key })}
          >
            Ban
          </button>
        </span>
      )}
      {form && <ModForm key={form.mode} form={form} cancel={() => setForm(null)} submit={(reason) => submitForm(form, reason)} />}
    </li>
  );
}

function ModForm({ form, cancel, submit }: { form: ModFormState; cancel(): void; submit(reason: string): void }) {
  const [reason, setReason] = useState('');
  const reasonRef = useRef<HTMLInputElement>(null);
  useEffect(() => reasonRef.current?.focus(), [form.mode]);
  return (
    <form
      class="mod-form"
      data-testid="mod-form"
      onSubmit={(e) => {
        e.preventDefault();
        submit(reason.trim());
      }}
    >
      <span>{form.mode === 'timeout' ? `Time out ${form.user} for 10 minutes` : `Ban ${form.user}`}</span>
      <label>
        <span class="sr-only">Reason (optional)</span>
        <input
          type="text"
          placeholder="Reason (optional)"
          maxLength={200}
          value={reason}
          data-testid="mod-reason"
          ref={reasonRef}
          onInput={(e) => setReason((e.currentTarget as HTMLInputElement).value)}
        />
      </label>
      <button type="submit" class="btn tiny primary" data-testid="mod-confirm">
        {form.mode === 'timeout' ? 'Time out' : 'Ban'}
      </button>
      <button type="button" class="btn tiny ghost" data-testid="mod-cancel" onClick={cancel}>
        Cancel
      </button>
    </form>
  );
}
