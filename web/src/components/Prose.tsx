// A small, safe subset of Markdown for the API descriptions: paragraphs, "- " lists, `code`,
// **bold**, *emphasis* and [links](url). Everything is built as elements (no innerHTML).
import type { ComponentChildren } from 'preact';

const INLINE = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|(\[[^\]]+\]\([^)\s]+\))/g;

function safeHref(url: string): string | null {
  if (/^(https?:)?\/\//i.test(url) || url.startsWith('/') || url.startsWith('#')) return url;
  return null;
}

function inline(text: string): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    const at = m.index ?? 0;
    if (at > last) out.push(text.slice(last, at));
    const tok = m[0];
    if (m[1]) out.push(<code>{tok.slice(1, -1)}</code>);
    else if (m[2]) out.push(<strong>{inline(tok.slice(2, -2))}</strong>);
    else if (m[3]) out.push(<em>{inline(tok.slice(1, -1))}</em>);
    else {
      const lm = /^\[([^\]]+)\]\(([^)\s]+)\)$/.exec(tok);
      const href = lm ? safeHref(lm[2]) : null;
      out.push(href && lm ? <a href={href}>{inline(lm[1])}</a> : tok);
    }
    last = at + tok.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export function Prose({ text, class: cls }: { text: string; class?: string }) {
  const blocks = text.trim().split(/\n\s*\n/);
  return (
    <div class={`prose ${cls ?? ''}`}>
      {blocks.map((b, i) => {
        const lines = b.split('\n');
        if (lines.every((l) => /^\s*[-*] /.test(l))) {
          return (
            <ul key={i}>
              {lines.map((l, j) => (
                <li key={j}>{inline(l.replace(/^\s*[-*] /, ''))}</li>
              ))}
            </ul>
          );
        }
        return <p key={i}>{inline(lines.join(' '))}</p>;
      })}
    </div>
  );
}
