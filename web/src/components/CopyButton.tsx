import { useEffect, useState } from 'preact/hooks';
import { copyText } from '../util';

export function CopyButton({ text, testid, label = 'Copy' }: { text: string; testid?: string; label?: string }) {
  const [done, setDone] = useState<null | boolean>(null);
  useEffect(() => {
    if (done === null) return;
    const t = setTimeout(() => setDone(null), 2000);
    return () => clearTimeout(t);
  }, [done]);
  return (
    <button
      type="button"
      class="btn small"
      data-testid={testid}
      onClick={async () => setDone(await copyText(text))}
      aria-live="polite"
    >
      {done === true ? 'Copied' : done === false ? 'Copy failed' : label}
    </button>
  );
}
