import { useTitle } from '../util';

export function NotFound() {
  useTitle('Not found');
  return (
    <section class="page narrow center" data-testid="not-found">
      <h1>Page not found</h1>
      <p class="muted">There is nothing at this address.</p>
      <p>
        <a href="/">See who is live</a>
      </p>
    </section>
  );
}
