import { Header } from './components/Header';
import { Directory } from './pages/Directory';
import { Watch } from './pages/Watch';
import { AuthPage } from './pages/Auth';
import { Studio } from './pages/Studio';
import { ApiDocs } from './pages/ApiDocs';
import { Videos } from './pages/Videos';
import { VideoPage } from './pages/Video';
import { NotFound } from './pages/NotFound';
import { useLocation } from './router';
import { CHANNEL_RE } from './util';

/** Names that are pages, not channels (docs/WEB.md). */
const RESERVED = new Set([
  'api', 'assets', 'chat', 'live', 'vod', 'login', 'logout', 'signup', 'studio', 'videos', 'metrics', 'healthz', 'readyz',
  'favicon.ico',
]);

function route(path: string, query: URLSearchParams) {
  const p = path.length > 1 ? path.replace(/\/+$/, '') : path;
  if (p === '/') return <Directory />;
  if (p === '/login') return <AuthPage mode="login" next={query.get('next')} />;
  if (p === '/signup') return <AuthPage mode="signup" next={query.get('next')} />;
  if (p === '/studio' || p.startsWith('/studio/')) return <Studio selected={query.get('channel')} />;
  if (p === '/api/docs') return <ApiDocs />;
  if (p === '/videos') return <Videos />;
  const v = /^\/videos\/([^/]+)$/.exec(p);
  // Video ids are path-safe (`v` and hex): anything else is simply not found.
  if (v) return <VideoPage key={v[1]} id={v[1]} />;
  const m = /^\/([^/]+)$/.exec(p);
  if (m) {
    let name = m[1];
    try {
      name = decodeURIComponent(name);
    } catch {
      // keep it as it came
    }
    if (!RESERVED.has(name) && CHANNEL_RE.test(name)) return <Watch key={name} name={name} />;
  }
  return <NotFound />;
}

export function App() {
  const loc = useLocation();
  return (
    <>
      <a class="skip" href="#main" data-native>
        Skip to content
      </a>
      <Header />
      <main id="main" tabIndex={-1}>
        {route(loc.path, loc.query)}
      </main>
    </>
  );
}
