// Sign-in: paste an access token (kept in this tab's session storage only), or, on a
// development config, take a development token from the service.
import * as api from '../api.js';
import { h, replace } from '../dom.js';

export function mount(main, { onSignedIn }) {
  const message = sessionStorage.getItem('jobs.signin-message');
  sessionStorage.removeItem('jobs.signin-message');
  const status = h('p', { class: 'error', role: 'alert' }, message || '');
  const input = h('textarea', { id: 'token', name: 'token', rows: 4, required: true, autocomplete: 'off', spellcheck: 'false',
    placeholder: 'eyJhbGciOiJIUzI1NiIs…' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');

  // The token is checked with a real request before it is kept.
  const tryToken = async (value) => {
    api.setToken(value);
    try {
      await api.get('/functions');
      onSignedIn();
    } catch (err) {
      api.clearToken();
      status.textContent = err.status === 401 ? `That token was refused: ${err.message}` : err.message;
    }
  };
  const form = h('form', {
    class: 'panel',
    onsubmit: (e) => {
      e.preventDefault();
      // A token holds no white space: line breaks from a terminal that wrapped it go.
      const value = input.value.trim().replace(/^Bearer\s+/i, '').replace(/\s+/g, '');
      if (value) tryToken(value);
    },
  },
  h('h1', null, 'Sign in'),
  h('p', null, 'Paste an access token. It is kept in this browser tab only, until you sign out or close the tab. ',
    'Mint one with ', h('code', null, 'jobs token -tenant <tenant> -actor <you>'), '.'),
  h('label', { for: 'token' }, 'Access token'),
  input,
  h('div', { class: 'form-actions' }, submit),
  status);

  const dev = h('div', { class: 'form-actions', id: 'dev' });
  replace(main, h('div', { class: 'signin' }, form, dev));
  input.focus();

  api.devTokenInfo().then((info) => {
    if (!info) return;
    replace(dev,
      h('p', { class: 'muted' }, 'This service runs with the development secret, so it hands out tokens to anyone.'),
      h('button', {
        type: 'button',
        id: 'dev-token',
        onclick: async () => {
          try {
            await tryToken(await api.fetchDevToken());
          } catch (err) {
            status.textContent = err.message;
          }
        },
      }, `Use a development token (tenant ${info.tenant}, actor ${info.actor})`));
  });
  return {};
}
