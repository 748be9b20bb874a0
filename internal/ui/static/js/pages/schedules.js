// Schedules: the tenant's schedules with their next run and counts, pause, resume, trigger
// and delete on each, and a form to create one. Counts follow the tenant's event stream
// (a schedule's fire is a job's creation).
import * as api from '../api.js';
import { h, replace, time, formatNumber, toast, timeZone, once } from '../dom.js';

// Every action, and the link to a schedule's jobs, names the schedule's tenant: an admin
// token lists every tenant's schedules (and jobs), and two tenants may use the same id.
const path = (s, action = '') => `/schedules/${encodeURIComponent(s.id)}${action ? `/${action}` : ''}`
  + `?tenant_id=${encodeURIComponent(s.tenantId)}`;

function createForm(onCreated) {
  const status = h('p', { class: 'error', role: 'alert', id: 'new-schedule-error' });
  const field = (name, labelText, attrs = {}) => h('label', { for: `s-${name}` }, labelText,
    h('input', { id: `s-${name}`, name, ...attrs }));
  const functionSelect = h('select', { id: 's-functionId', name: 'functionId', required: true });
  api.get('/functions').then((fns) => replace(functionSelect, fns.map((fn) => h('option', { value: fn.id }, fn.id))))
    .catch((err) => { status.textContent = err.message; });
  const form = h('form', { class: 'start-form', id: 'new-schedule', 'aria-label': 'New schedule' },
    h('div', { class: 'form-grid' },
      field('id', 'Id', { required: true, placeholder: 'nightly-report' }),
      field('cron', 'Cron', { required: true, placeholder: '30 2 * * * or @every 1m' }),
      field('timezone', 'Time zone', { value: timeZone || 'UTC' }),
      h('label', { for: 's-functionId' }, 'Function', functionSelect),
      h('label', { for: 's-overlap' }, 'Overlap', h('select', { id: 's-overlap', name: 'overlap' },
        h('option', { value: 'allow' }, 'allow: start even while the last job runs'),
        h('option', { value: 'skip' }, 'skip: not while the last job runs'))),
      field('name', 'Job name (optional)')),
    h('label', { for: 's-params' }, 'Params (a JSON object)'),
    h('textarea', { id: 's-params', name: 'params', rows: 3, spellcheck: 'false', placeholder: '{}' }),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'primary' }, 'Create schedule')),
    status);
  form.addEventListener('submit', once(async (e) => {
    e.preventDefault();
    status.textContent = '';
    const data = new FormData(form);
    const body = {};
    for (const key of ['id', 'cron', 'timezone', 'functionId', 'overlap', 'name']) {
      const v = String(data.get(key) || '').trim();
      if (v) body[key] = v;
    }
    const raw = String(data.get('params') || '').trim();
    if (raw) {
      try {
        body.params = JSON.parse(raw);
      } catch (err) {
        status.textContent = `Params is not valid JSON: ${err.message}`;
        return;
      }
    }
    try {
      const s = await api.post('/schedules', body);
      toast(`Created schedule ${s.id}.`);
      form.reset();
      onCreated();
    } catch (err) {
      status.textContent = err.message;
    }
  }));
  return form;
}

// asking holds the keys of the rows whose Delete is a confirmation: the list drawn again
// (each fire of a schedule redraws it) keeps them so, for the user to read and click.
function row(s, reload, admin, asking) {
  // Each control has a key naming its place in the row (Pause and Resume share one): the
  // list drawn again gives it the keyboard focus back. An admin sees every tenant's schedules.
  const key = (slot) => `${slot}:${s.tenantId}/${s.id}`;
  const act = (action, slot, label, done) => h('button', {
    type: 'button',
    class: 'link',
    'data-action': action,
    'data-key': key(slot),
    onclick: once(async () => {
      if (action === 'delete') asking.delete(key('delete'));
      try {
        const result = await api.request(action === 'delete' ? 'DELETE' : 'POST', path(s, action === 'delete' ? '' : action));
        toast(done(result));
      } catch (err) {
        toast(err.message);
      }
      reload();
    }),
  }, label);
  // Delete asks once more in place: the first click turns the button into a confirmation.
  const really = () => act('delete', 'delete', `Really delete ${s.id}?`, () => `Deleted schedule ${s.id}.`);
  const del = asking.has(key('delete')) ? really() : h('button', {
    type: 'button',
    class: 'link',
    'data-action': 'ask-delete',
    'data-key': key('delete'),
    onclick: () => {
      asking.add(key('delete'));
      const confirm = really();
      del.replaceWith(confirm);
      confirm.focus();
    },
  }, 'Delete');
  return h('tr', { 'data-id': s.id, 'data-paused': String(s.paused) },
    h('td', null, h('a', { href: `#/jobs${api.query({ schedule_id: s.id, tenant_id: s.tenantId })}`, class: 'mono' }, s.id),
      s.source === 'config' ? h('span', { class: 'muted' }, ' (config)') : null),
    admin ? h('td', null, s.tenantId) : null,
    h('td', null, h('span', { class: 'mono' }, s.cron), h('div', { class: 'muted' }, s.timezone)),
    h('td', { class: 'mono' }, s.functionId),
    h('td', null, s.paused ? h('span', { class: 'muted' }, 'paused') : time(s.nextRunAt)),
    h('td', { class: 'num', 'data-count': 'fired' }, formatNumber(s.fired)),
    h('td', { class: 'num', 'data-count': 'missed' }, formatNumber(s.missedFires + s.overlapSkipped),
      s.lastError ? h('div', { class: 'error' }, s.lastError) : null),
    h('td', { class: 'actions' },
      s.paused ? act('resume', 'toggle', 'Resume', () => `Resumed ${s.id}.`) : act('pause', 'toggle', 'Pause', () => `Paused ${s.id}.`),
      ' ', act('trigger', 'trigger', 'Run now', (job) => `Started job ${job.id}.`),
      s.source === 'config' ? null : [' ', del]));
}

export function mount(main) {
  const admin = api.claims().role === 'admin';
  const columns = ['Schedule', admin ? 'Tenant' : null, 'Cron', 'Function', 'Next run', 'Fired', 'Skipped', 'Actions'].filter(Boolean);
  const tbody = h('tbody', null, h('tr', null, h('td', { colspan: columns.length, class: 'muted' }, 'Loading…')));
  const table = h('table', { id: 'schedules-table' },
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
    tbody);
  const problem = h('p', { class: 'notice error', role: 'alert', id: 'schedules-error', hidden: true });
  const asking = new Set();
  let loading = null;
  let retry = null;
  let left = false;
  const reload = () => {
    clearTimeout(retry);
    loading = api.get('/schedules').then(({ schedules }) => {
      problem.hidden = true;
      problem.textContent = '';
      const focusKey = tbody.contains(document.activeElement) ? document.activeElement.dataset.key : null;
      replace(tbody, schedules.length ? schedules.map((s) => row(s, reload, admin, asking))
        : h('tr', null, h('td', { colspan: columns.length, class: 'muted' }, 'No schedules yet.')));
      if (focusKey) tbody.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)?.focus();
    }).catch((err) => {
      if (left) return;
      problem.hidden = false;
      problem.textContent = err.message;
      // MySQL away (503) or the service out of reach: try again, as the jobs list does.
      if (err.status === 503 || err.status === 0) retry = setTimeout(reload, 3000);
    });
  };
  replace(main, h('h1', null, 'Schedules'), problem,
    h('div', { class: 'table-wrap panel' }, table),
    h('details', { class: 'panel', open: true }, h('summary', null, 'New schedule'), createForm(reload)));
  reload();
  // A fire starts a job: the counts move when the tenant's jobs are created. Read them again
  // at most every 300 ms (not 300 ms after the last new job, which a busy tenant never leaves).
  let pending = null;
  return {
    onEvent(name, data) {
      if (!pending && (name === 'reset' || (name === 'status' && data.status === 'pending' && data.attempt === 0))) {
        pending = setTimeout(() => {
          pending = null;
          loading.then(reload);
        }, 300);
      }
    },
    leave() {
      left = true;
      clearTimeout(pending);
      clearTimeout(retry);
    },
  };
}
