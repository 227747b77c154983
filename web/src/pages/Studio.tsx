import { useEffect, useState } from 'preact/hooks';
import { ApiError, api, get, seg } from '../api';
import { ChannelPanel, ChannelView, rememberKey } from '../components/ChannelPanel';
import { CopyButton } from '../components/CopyButton';
import { navigate } from '../router';
import { useSession } from '../session';
import { parseTime, timeAgo, useTitle } from '../util';

function apiMessage(e: unknown): string {
  if (e instanceof ApiError) return e.routeMissing ? 'This server does not offer that yet.' : e.message;
  return String(e);
}

export function Studio({ selected }: { selected: string | null }) {
  const session = useSession();
  const [channels, setChannels] = useState<ChannelView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useTitle('Studio');

  useEffect(() => {
    if (session.loaded && !session.user) {
      const here = window.location.pathname + window.location.search;
      navigate(`/login?next=${encodeURIComponent(here)}`, true);
    }
  }, [session.loaded, session.user]);

  const load = async () => {
    try {
      const r = await get<{ channels: ChannelView[] }>('/api/v1/channels');
      setChannels(r?.channels ?? []);
      setError(null);
    } catch (e) {
      setError(`Could not load your channels: ${apiMessage(e)}`);
    }
  };
  useEffect(() => {
    if (session.user) load();
  }, [session.user?.name]);

  if (!session.loaded || !session.user) {
    return (
      <section class="page">
        <p class="muted">Loading…</p>
      </section>
    );
  }

  const current = channels?.find((c) => c.name === selected) ?? channels?.[0] ?? null;
  const replace = (v: ChannelView) =>
    setChannels((list) => (list ? list.map((c) => (c.name === v.name ? { ...c, ...v } : c)) : list));

  return (
    <section class="page studio" data-testid="studio">
      <h1 class="page-title">Studio</h1>
      {error && (
        <p class="error-line" role="alert" data-testid="studio-error">
          {error}
        </p>
      )}
      <div class="studio-grid">
        <nav class="studio-side" aria-label="Your channels">
          <h2 class="section-title">Your channels</h2>
          {channels && channels.length === 0 && <p class="muted small">No channels yet. Create one below.</p>}
          <ul class="channel-list" data-testid="studio-channels">
            {(channels ?? []).map((c) => (
              <li key={c.name}>
                <a
                  href={`/studio?channel=${encodeURIComponent(c.name)}`}
                  aria-current={current?.name === c.name ? 'page' : undefined}
                  data-testid="studio-channel-link"
                  data-channel={c.name}
                >
                  <span class={`dot ${c.live ? 'on' : ''}`} aria-hidden="true" />
                  <span>{c.name}</span>
                  {c.live && <span class="sr-only"> (live)</span>}
                </a>
              </li>
            ))}
          </ul>
          <CreateChannel
            onCreated={(v) => {
              setChannels((list) => [...(list ?? []).filter((c) => c.name !== v.name), v]);
              navigate(`/studio?channel=${encodeURIComponent(v.name)}`);
            }}
          />
        </nav>
        <div class="studio-main">
          {current ? (
            <ChannelPanel
              key={current.name}
              channel={current}
              onChange={replace}
              onDeleted={(name) => {
                setChannels((list) => (list ? list.filter((c) => c.name !== name) : list));
                navigate('/studio', true);
              }}
            />
          ) : (
            channels && (
              <div class="empty">
                <p>Create a channel to get an RTMP URL and stream key for OBS.</p>
              </div>
            )
          )}
          <Tokens />
        </div>
      </div>
    </section>
  );
}

function CreateChannel({ onCreated }: { onCreated(v: ChannelView): void }) {
  const [name, setName] = useState('');
  const [title, setTitle] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const n = name.trim();
    if (!n) {
      setError('Give the channel a name.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body: Record<string, string> = { name: n };
      if (title.trim()) body.title = title.trim();
      const v = await api<ChannelView>('POST', '/api/v1/channels', body);
      if (v.stream_key) rememberKey(v.name, v.stream_key);
      setName('');
      setTitle('');
      onCreated(v);
    } catch (err) {
      if (err instanceof ApiError && err.code === 'name_taken') setError('That channel name is taken.');
      else if (err instanceof ApiError && err.code === 'invalid_name')
        setError('Channel names are 1–48 of a–z, 0–9, - and _, starting with a letter or digit.');
      else setError(apiMessage(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="card-form compact" onSubmit={submit} data-testid="studio-create">
      <h2 class="section-title">New channel</h2>
      <label for="create-name">Name</label>
      <input
        id="create-name"
        type="text"
        autoCapitalize="none"
        spellcheck={false}
        maxLength={48}
        value={name}
        data-testid="studio-create-name"
        onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
      />
      <label for="create-title">Title (optional)</label>
      <input
        id="create-title"
        type="text"
        maxLength={140}
        value={title}
        data-testid="studio-create-title"
        onInput={(e) => setTitle((e.currentTarget as HTMLInputElement).value)}
      />
      <p class="form-error" role="alert" data-testid="studio-create-error">
        {error || ''}
      </p>
      <button type="submit" class="btn primary" disabled={busy} data-testid="studio-create-submit">
        Create channel
      </button>
    </form>
  );
}

interface TokenView {
  id: string | number;
  name: string;
  created_at?: string | null;
  last_used_at?: string | null;
}

function Tokens() {
  const [tokens, setTokens] = useState<TokenView[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [fresh, setFresh] = useState<{ id: string | number; name: string; token: string } | null>(null);
  const [busy, setBusy] = useState(false);

  const load = async () => {
    try {
      const r = await get<{ tokens: TokenView[] }>('/api/v1/tokens');
      setTokens(r?.tokens ?? []);
      setError(null);
    } catch (e) {
      setError(`Could not load your tokens: ${apiMessage(e)}`);
    }
  };
  useEffect(() => {
    load();
  }, []);

  const create = async (e: Event) => {
    e.preventDefault();
    if (!name.trim()) {
      setError('Name the token (what will use it?).');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const t = await api<TokenView & { token: string }>('POST', '/api/v1/tokens', { name: name.trim() });
      setFresh({ id: t.id, name: t.name, token: t.token });
      setName('');
      await load();
    } catch (err) {
      setError(`Could not create the token: ${apiMessage(err)}`);
    } finally {
      setBusy(false);
    }
  };

  const revoke = async (t: TokenView) => {
    setError(null);
    try {
      await api('DELETE', `/api/v1/tokens/${seg(String(t.id))}`);
      setTokens((list) => (list ? list.filter((x) => x.id !== t.id) : list));
      setFresh((f) => (f && f.id === t.id ? null : f));
    } catch (err) {
      setError(`Could not revoke “${t.name}”: ${apiMessage(err)}`);
    }
  };

  return (
    <section class="panel" data-testid="tokens" aria-labelledby="tokens-h">
      <h2 id="tokens-h">API tokens</h2>
      <p class="muted small">
        Personal tokens act as you in scripts: send them as <code>Authorization: Bearer TOKEN</code>. See the{' '}
        <a href="/api/docs">API reference</a>.
      </p>
      {fresh && (
        <div class="notice" data-testid="token-fresh">
          <p>
            Your new token “{fresh.name}”. Copy it now: it will not be shown again.
          </p>
          <div class="row">
            <code class="secret" data-testid="token-value">
              {fresh.token}
            </code>
            <CopyButton text={fresh.token} testid="token-copy" />
            <button type="button" class="btn small ghost" onClick={() => setFresh(null)}>
              Done
            </button>
          </div>
        </div>
      )}
      {tokens && tokens.length > 0 && (
        <table class="table" data-testid="token-list">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => {
              const created = parseTime(t.created_at);
              const used = parseTime(t.last_used_at);
              return (
                <tr key={String(t.id)} data-testid="token-row">
                  <td>{t.name}</td>
                  <td>{created !== null ? timeAgo(created) : '—'}</td>
                  <td>{used !== null ? timeAgo(used) : 'never'}</td>
                  <td>
                    <button type="button" class="btn small danger" onClick={() => revoke(t)} data-testid="token-revoke">
                      Revoke
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {tokens && tokens.length === 0 && <p class="muted small">No tokens.</p>}
      <form class="row" onSubmit={create}>
        <label for="token-name" class="sr-only">
          Token name
        </label>
        <input
          id="token-name"
          type="text"
          placeholder="Token name, e.g. obs-script"
          maxLength={64}
          value={name}
          data-testid="token-name"
          onInput={(e) => setName((e.currentTarget as HTMLInputElement).value)}
        />
        <button type="submit" class="btn" disabled={busy} data-testid="token-create">
          Create token
        </button>
      </form>
      {error && (
        <p class="error-line" role="alert" data-testid="token-error">
          {error}
        </p>
      )}
    </section>
  );
}
