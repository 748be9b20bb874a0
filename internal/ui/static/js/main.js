// The dashboard's shell: hash routing between pages, sign-in and sign-out, and the one
// tenant-wide event stream (GET /api/v1/events) whose events it hands to the page shown.
import * as api from './api.js';
import { h, replace } from './dom.js';
import * as signin from './pages/signin.js';
import * as overview from './pages/overview.js';
import * as jobs from './pages/jobs.js';
import * as job from './pages/job.js';
import * as functions from './pages/functions.js';
import * as schedules from './pages/schedules.js';

const main = document.getElementById('main');
const nav = document.getElementById('nav');
const session = document.getElementById('session');
const live = document.getElementById('live');
let current = null; // the page shown: {onEvent?, leave?}
let feed = null;

// route reads the hash: #/jobs/ID, #/jobs?status=running, #/overview, #/functions, #/schedules.
function route() {
  const hash = location.hash || '#/overview';
  const [path, search] = hash.slice(1).split('?');
  const parts = path.split('/').filter(Boolean);
  const params = new URLSearchParams(search || '');
  if (parts[0] === 'jobs' && parts[1]) return { page: job, name: 'jobs', params: { id: decodeURIComponent(parts[1]) } };
  const pages = { overview, jobs, functions, schedules };
  const page = pages[parts[0]];
  return page ? { page, name: parts[0], params } : { page: overview, name: 'overview', params };
}

function show() {
  if (current && current.leave) current.leave();
  current = null;
  if (!api.token()) {
    signedOut();
    current = signin.mount(main, { onSignedIn: signedIn });
    return;
  }
  const { page, name, params } = route();
  for (const a of nav.querySelectorAll('a')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  replace(main);
  current = page.mount(main, params) || {};
}

function signedIn() {
  const c = api.claims();
  // An admin token's tenant names only whose overview it shows: its lists are every tenant's.
  replace(document.getElementById('who'), c.role === 'admin' ? 'Operator (all tenants)' : ['Tenant ', h('strong', null, c.tenant || '?')],
    c.actor ? ` · ${c.actor}` : '');
  nav.hidden = false;
  session.hidden = false;
  if (!feed) feed = openFeed();
  show();
}

function signedOut() {
  nav.hidden = true;
  session.hidden = true;
  if (feed) feed.close();
  feed = null;
}

// openFeed follows the tenant's job changes (an admin token's: every tenant's, each event
// naming its tenant; that feed cannot resume, so each reconnect starts with a reset, and the
// page reloads). EventSource resumes by itself with
// Last-Event-ID after a dropped connection; if it gives up (the service answered with an
// error), a new one is opened a little later, and its reset makes the page reload.
// EventSource does not say why it gave up, so a plain request asks first: its 401 (the
// token expired while the stream was open) signs out instead of retrying for ever.
function openFeed() {
  let source = null;
  let retry = null;
  let closed = false;
  const reopen = () => api.get('/functions').then(open, (err) => {
    if (err.status !== 401) open();
  });
  const setState = (state, text) => {
    live.dataset.state = state;
    live.textContent = text;
  };
  const dispatch = (name) => (e) => {
    setState('live', 'Live');
    if (current && current.onEvent) current.onEvent(name, name === 'reset' ? {} : JSON.parse(e.data));
  };
  const open = () => {
    if (closed) return;
    source = new EventSource(api.streamURL('/events'));
    for (const name of ['reset', 'status', 'progress']) source.addEventListener(name, dispatch(name));
    source.onopen = () => setState('live', 'Live');
    source.onerror = () => {
      setState('reconnecting', 'Reconnecting…');
      if (source.readyState === EventSource.CLOSED) retry = setTimeout(reopen, 3000);
    };
  };
  setState('connecting', 'Connecting…');
  open();
  return {
    close() {
      closed = true;
      clearTimeout(retry);
      if (source) source.close();
    },
  };
}

api.onUnauthorized((message) => {
  if (!feed) return; // not signed in yet: the sign-in form says why it refused the token
  api.clearToken();
  sessionStorage.setItem('jobs.signin-message', `Signed out: ${message}`);
  show();
});

document.getElementById('signout').addEventListener('click', () => {
  api.clearToken();
  show();
});

// The skip link moves the focus to the content without taking the address: the hash is the
// page's state (#main would open the overview on a reload).
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

window.addEventListener('hashchange', show);
if (api.token()) signedIn();
else show();
