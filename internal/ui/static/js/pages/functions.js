// Functions: what each registered function is, and a form to start a job of it, built
// from its required params. The started job opens in its detail page.
import * as api from '../api.js';
import { h, replace, toast } from '../dom.js';

// paramValue reads a form field as true, false, null or a number, else as text. A number
// only when it reads back as typed: "007", "1.50" and ids too long for a double stay text.
function paramValue(text) {
  const t = text.trim();
  if (t === 'true' || t === 'false' || t === 'null') return JSON.parse(t);
  const n = Number(t);
  return t !== '' && Number.isFinite(n) && String(n) === t ? n : text;
}

function startForm(fn) {
  const idFor = (name) => `start-${fn.id}-${name}`;
  const field = (name, labelText, attrs = {}) => h('label', { for: idFor(name) }, labelText,
    h('input', { id: idFor(name), name, ...attrs }));
  const status = h('p', { class: 'error', role: 'alert' });
  const required = fn.requiredParams || [];
  const form = h('form', { class: 'start-form', 'data-function': fn.id, 'aria-label': `Start a ${fn.id} job` },
    required.length
      ? h('fieldset', null, h('legend', null, 'Required params'), h('div', { class: 'form-grid' },
        required.map((p) => field(`param:${p}`, p, { required: true, 'data-param': p }))))
      : null,
    h('label', { for: idFor('params') }, required.length ? 'Other params (a JSON object)' : 'Params (a JSON object)'),
    h('textarea', { id: idFor('params'), name: 'params', rows: 3, spellcheck: 'false', placeholder: '{}' }),
    h('div', { class: 'form-grid' }, field('name', 'Job name (optional)')),
    h('details', null, h('summary', null, 'More options'), h('div', { class: 'form-grid' },
      field('actor', 'Actor'),
      field('gameId', 'Game'),
      field('env', 'Env'),
      field('maxAttempts', 'Max attempts', { type: 'number', min: 1 }),
      field('timeoutSeconds', 'Timeout (seconds)', { type: 'number', min: 1 }),
      field('runAt', 'Run at (your time zone)', { type: 'datetime-local' }),
      field('callbackUrl', 'Callback URL', { type: 'url' }),
      field('idempotencyKey', 'Idempotency key'))),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, `Start ${fn.id}`)),
    status);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    status.textContent = '';
    const data = new FormData(form);
    let params = {};
    const raw = String(data.get('params') || '').trim();
    if (raw) {
      try {
        params = JSON.parse(raw);
      } catch (err) {
        status.textContent = `Params is not valid JSON: ${err.message}`;
        return;
      }
      if (params === null || typeof params !== 'object' || Array.isArray(params)) {
        status.textContent = 'Params must be a JSON object, like {"seconds": 5}.';
        return;
      }
    }
    for (const input of form.querySelectorAll('[data-param]')) params[input.dataset.param] = paramValue(input.value);
    const body = { functionId: fn.id, params };
    for (const key of ['name', 'actor', 'gameId', 'env', 'callbackUrl', 'idempotencyKey']) {
      const v = String(data.get(key) || '').trim();
      if (v) body[key] = v;
    }
    for (const key of ['maxAttempts', 'timeoutSeconds']) {
      const v = String(data.get(key) || '').trim();
      if (v) body[key] = Number(v);
    }
    const runAt = String(data.get('runAt') || '');
    if (runAt) body.runAt = new Date(runAt).toISOString();
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      const job = await api.post('/jobs', body);
      toast(`Started ${fn.id} job ${job.id}.`);
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      status.textContent = err.message;
      button.disabled = false;
    }
  });
  return form;
}

export function mount(main) {
  const list = h('div', { class: 'fn-list', id: 'functions' }, h('p', { class: 'muted' }, 'Loading…'));
  replace(main, h('h1', null, 'Functions'), list);
  api.get('/functions').then((fns) => {
    replace(list, fns.map((fn) => h('section', { class: 'panel', id: `fn-${fn.id}`, 'aria-labelledby': `fn-title-${fn.id}` },
      h('div', { class: 'row spread' },
        h('h2', { id: `fn-title-${fn.id}` }, h('span', { class: 'mono' }, fn.id)),
        h('a', { href: `#/jobs?function_id=${encodeURIComponent(fn.id)}` }, `Jobs of ${fn.id}`)),
      fn.description ? h('p', null, fn.description) : null,
      h('dl', { class: 'facts' },
        h('dt', null, 'Kind'), h('dd', null, fn.kind),
        h('dt', null, 'Timeout'), h('dd', null, `${fn.timeoutSeconds} s per attempt`),
        h('dt', null, 'Attempts'), h('dd', null, String(fn.maxAttempts)),
        h('dt', null, 'Required params'), h('dd', null, (fn.requiredParams || []).join(', ') || 'none')),
      h('details', { class: 'start' }, h('summary', null, `Start a ${fn.id} job`), startForm(fn)))));
  }).catch((err) => {
    replace(list, h('p', { class: 'notice error', role: 'alert' }, err.message));
    toast(err.message);
  });
  return {};
}
