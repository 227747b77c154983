import { render } from 'preact';
import { App } from './app';
import { interceptLinks } from './router';
import { refreshSession } from './session';
import './style.css';

interceptLinks();
refreshSession();
render(<App />, document.getElementById('app')!);
