// The REST API reference, rendered from /api/openapi.json: operations grouped by tag, each with
// its parameters, request body and responses (schemas as formatted JSON, references resolved).
import { useEffect, useMemo, useState } from 'preact/hooks';
import { ApiError, get } from '../api';
import { useTitle } from '../util';
import { Prose } from '../components/Prose';

type Json = unknown;
type Obj = Record<string, Json>;

interface Operation {
  method: string;
  path: string;
  op: Obj;
  params: Obj[];
  tag: string;
  anchor: string;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: Json): string => (typeof v === 'string' ? v : '');

/** Follows a local JSON pointer (#/components/schemas/X). */
function lookup(spec: Obj, ref: string): Json {
  if (!ref.startsWith('#/')) return undefined;
  let node: Json = spec;
  for (const raw of ref.slice(2).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObj(node) && !Array.isArray(node)) return undefined;
    node = (node as Obj)[key];
  }
  return node;
}

/** Replaces $refs by what they point to; a reference inside itself stays a $ref. */
function resolve(spec: Obj, node: Json, seen: string[] = [], depth = 0): Json {
  if (depth > 12) return node;
  if (Array.isArray(node)) return node.map((n) => resolve(spec, n, seen, depth + 1));
  if (!isObj(node)) return node;
  const ref = node.$ref;
  if (typeof ref === 'string') {
    if (seen.includes(ref)) return { $ref: ref };
    const target = lookup(spec, ref);
    if (target === undefined) return node;
    const { $ref: _r, ...rest } = node;
    const resolved = resolve(spec, target, [...seen, ref], depth + 1);
    return isObj(resolved) && Object.keys(rest).length ? { ...resolved, ...rest } : resolved;
  }
  const out: Obj = {};
  for (const [k, v] of Object.entries(node)) out[k] = resolve(spec, v, seen, depth + 1);
  return out;
}

function typeOf(schema: Json): string {
  if (!isObj(schema)) return '';
  if (typeof schema.$ref === 'string') return schema.$ref.split('/').pop() || '';
  if (Array.isArray(schema.type)) return schema.type.join(' | ');
  const t = text(schema.type);
  if (t === 'array') return `${typeOf(schema.items)}[]`;
  if (Array.isArray(schema.enum)) return schema.enum.map((e) => JSON.stringify(e)).join(' | ');
  return [t, text(schema.format)].filter(Boolean).join(', ');
}

function Schema({ spec, schema }: { spec: Obj; schema: Json }) {
  const json = useMemo(() => JSON.stringify(resolve(spec, schema), null, 2), [spec, schema]);
  return <pre class="schema">{json}</pre>;
}

function Content({ spec, content }: { spec: Obj; content: Json }) {
  if (!isObj(content)) return null;
  return (
    <>
      {Object.entries(content).map(([type, media]) => (
        <div key={type} class="media">
          <span class="media-type">{type}</span>
          {isObj(media) && media.schema !== undefined && <Schema spec={spec} schema={media.schema} />}
          {isObj(media) && media.example !== undefined && (
            <>
              <span class="muted small">Example</span>
              <pre class="schema">{JSON.stringify(media.example, null, 2)}</pre>
            </>
          )}
        </div>
      ))}
    </>
  );
}

function OperationView({ spec, o, open }: { spec: Obj; o: Operation; open: boolean }) {
  const op = o.op;
  const body = isObj(op.requestBody) ? (resolve(spec, op.requestBody) as Obj) : null;
  const responses = isObj(op.responses) ? op.responses : {};
  const security = Array.isArray(op.security) ? op.security : Array.isArray(spec.security) ? spec.security : [];
  return (
    <details class="op" id={o.anchor} open={open} data-testid="docs-operation" data-method={o.method} data-path={o.path}>
      <summary>
        <span class={`method m-${o.method}`}>{o.method.toUpperCase()}</span>
        <code class="op-path">{o.path}</code>
        <span class="op-summary">{text(op.summary)}</span>
        {op.deprecated === true && <span class="badge off inline">deprecated</span>}
      </summary>
      <div class="op-body">
        {text(op.description) && <Prose text={text(op.description)} />}
        {security.length > 0 && (
          <p class="muted small">
            Authentication:{' '}
            {security
              .map((s) => (isObj(s) ? Object.keys(s).join(' + ') || 'none' : ''))
              .filter(Boolean)
              .join(' or ')}
          </p>
        )}
        {o.params.length > 0 && (
          <>
            <h4>Parameters</h4>
            <div class="table-wrap">
              <table class="table">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">In</th>
                    <th scope="col">Type</th>
                    <th scope="col">Description</th>
                  </tr>
                </thead>
                <tbody>
                  {o.params.map((p) => (
                    <tr key={`${text(p.in)}-${text(p.name)}`}>
                      <td>
                        <code>{text(p.name)}</code>
                        {p.required === true && <span class="required" title="required"> *</span>}
                      </td>
                      <td>{text(p.in)}</td>
                      <td>
                        <code>{typeOf(p.schema)}</code>
                      </td>
                      <td>
                        <Prose text={text(p.description)} class="tight" />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
        {body && (
          <>
            <h4>
              Request body{body.required === true ? '' : ' (optional)'}
            </h4>
            {text(body.description) && <Prose text={text(body.description)} />}
            <Content spec={spec} content={body.content} />
          </>
        )}
        <h4>Responses</h4>
        {Object.entries(responses).map(([code, raw]) => {
          const r = resolve(spec, raw) as Obj;
          return (
            <div key={code} class="response">
              <p>
                <span class={`status s${code[0]}`}>{code}</span> {text(r?.description)}
              </p>
              {isObj(r) && <Content spec={spec} content={r.content} />}
            </div>
          );
        })}
      </div>
    </details>
  );
}

export function ApiDocs() {
  useTitle('API');
  const [spec, setSpec] = useState<Obj | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const hash = typeof window !== 'undefined' ? window.location.hash.slice(1) : '';

  useEffect(() => {
    get<Obj>('/api/openapi.json')
      .then((s) => {
        if (!isObj(s)) throw new Error('not an OpenAPI document');
        setSpec(s);
      })
      .catch((e) =>
        setError(
          e instanceof ApiError && e.status === 404
            ? 'This server does not publish its API description (/api/openapi.json) yet.'
            : `Could not load the API description: ${(e as Error).message}`,
        ),
      );
  }, []);

  // Once rendered, go to the operation the address names.
  useEffect(() => {
    if (spec && hash) document.getElementById(hash)?.scrollIntoView();
  }, [spec, hash]);

  const groups = useMemo(() => {
    if (!spec) return [];
    const ops: Operation[] = [];
    const paths = isObj(spec.paths) ? spec.paths : {};
    for (const [path, item] of Object.entries(paths)) {
      if (!isObj(item)) continue;
      const shared = Array.isArray(item.parameters) ? item.parameters : [];
      for (const method of METHODS) {
        const op = item[method];
        if (!isObj(op)) continue;
        const own = Array.isArray(op.parameters) ? op.parameters : [];
        // Operation parameters override path-level ones of the same name and place.
        const byKey = new Map<string, Obj>();
        for (const p of [...shared, ...own]) {
          const r = resolve(spec, p);
          if (isObj(r)) byKey.set(`${text(r.in)}:${text(r.name)}`, r);
        }
        const tags = Array.isArray(op.tags) && op.tags.length ? op.tags.map(text) : ['Other'];
        const anchor = text(op.operationId) || `${method}-${path}`.replace(/[^A-Za-z0-9_-]+/g, '-');
        ops.push({ method, path, op, params: [...byKey.values()], tag: tags[0], anchor });
      }
    }
    const declared = Array.isArray(spec.tags) ? spec.tags.filter(isObj) : [];
    const order = declared.map((t) => text(t.name));
    const names = [...new Set([...order, ...ops.map((o) => o.tag)])].filter((n) => ops.some((o) => o.tag === n));
    return names.map((name) => ({
      name,
      description: text(declared.find((t) => t.name === name)?.description),
      ops: ops.filter((o) => o.tag === name),
    }));
  }, [spec]);

  const f = filter.trim().toLowerCase();
  const matches = (o: Operation) =>
    !f || `${o.method} ${o.path} ${text(o.op.summary)} ${text(o.op.description)}`.toLowerCase().includes(f);
  const info = spec && isObj(spec.info) ? spec.info : null;
  const schemas = spec && isObj(spec.components) && isObj(spec.components.schemas) ? spec.components.schemas : null;

  return (
    <section class="page docs" data-testid="api-docs">
      <h1 class="page-title">{info ? `${text(info.title) || 'API'} ${text(info.version)}` : 'API reference'}</h1>
      {error && (
        <p class="error-line" role="alert" data-testid="docs-error">
          {error}
        </p>
      )}
      {!spec && !error && <p class="muted">Loading…</p>}
      {spec && (
        <div class="docs-grid">
          <nav class="docs-nav" aria-label="API sections">
            <label for="docs-filter" class="sr-only">
              Filter operations
            </label>
            <input
              id="docs-filter"
              type="search"
              placeholder="Filter operations"
              value={filter}
              data-testid="docs-filter"
              onInput={(e) => setFilter((e.currentTarget as HTMLInputElement).value)}
            />
            <ul>
              {groups.map((g) => (
                <li key={g.name}>
                  <a href={`#tag-${g.name.replace(/[^A-Za-z0-9_-]+/g, '-')}`} data-native>
                    {g.name}
                  </a>{' '}
                  <span class="muted small">{g.ops.filter(matches).length}</span>
                </li>
              ))}
              {schemas && (
                <li>
                  <a href="#schemas" data-native>
                    Schemas
                  </a>
                </li>
              )}
            </ul>
          </nav>
          <div class="docs-main">
            {info && text(info.summary) && <p class="lead">{text(info.summary)}</p>}
            {info && text(info.description) && <Prose text={text(info.description)} />}
            {groups.map((g) => {
              const ops = g.ops.filter(matches);
              if (!ops.length) return null;
              return (
                <section key={g.name} id={`tag-${g.name.replace(/[^A-Za-z0-9_-]+/g, '-')}`} class="docs-tag" data-testid="docs-tag">
                  <h2>{g.name}</h2>
                  {g.description && <Prose text={g.description} class="muted" />}
                  {ops.map((o) => (
                    <OperationView key={o.anchor} spec={spec} o={o} open={o.anchor === hash || (f !== '' && ops.length <= 3)} />
                  ))}
                </section>
              );
            })}
            {schemas && (
              <section id="schemas" class="docs-tag">
                <h2>Schemas</h2>
                {Object.entries(schemas).map(([name, schema]) => (
                  <details key={name} class="op" id={`schema-${name}`}>
                    <summary>
                      <code>{name}</code>
                    </summary>
                    <Schema spec={spec} schema={schema} />
                  </details>
                ))}
              </section>
            )}
          </div>
        </div>
      )}
    </section>
  );
}
