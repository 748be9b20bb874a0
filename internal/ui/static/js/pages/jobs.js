// Jobs: every list filter of GET /api/v1/jobs, paging and order, live status and progress
// from the tenant's event stream (an admin's: every tenant's, each row naming its tenant),
// and actions on the selected rows.
import * as api from '../api.js';
import {
  h, replace, time, duration, between, statusBadge, progressCell, updateProgress, formatNumber, toast, TERMINAL, STATUSES,
} from '../dom.js';

// The list filters, as GET /api/v1/jobs names them, with how the form asks for them.
const TEXT_FILTERS = [
  ['actor', 'Actor'],
  ['game_id', 'Game'],
  ['env', 'Env'],
  ['name', 'Name'],
  ['schedule_id', 'Schedule'],
];
const PARAMS = ['status', 'function_id', 'actor', 'game_id', 'env', 'name', 'schedule_id', 'ids', 'created_from', 'created_to', 'order', 'page', 'size', 'tenant_id'];

// Actions on the selected rows, each one request of the bulk route POST /api/v1/jobs/<id>
// with the ids of the selected jobs eligible for it; applied is what an acted-on row becomes
// until the list reloads (a rerun changes no row: its new jobs appear with the reload).
const BULK_ACTIONS = [
  {
    id: 'cancel',
    label: 'Cancel',
    verb: 'cancelled',
    eligible: (job) => !TERMINAL.has(job.status),
    applied: { status: 'cancelled' },
  },
  {
    id: 'rerun',
    label: 'Rerun',
    verb: 'rerun',
    eligible: (job) => TERMINAL.has(job.status),
  },
];

// toLocalInput turns an RFC 3339 time into a datetime-local value in the browser's zone.
function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(/^\d+$/.test(iso) ? Number(iso) : iso);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function mount(main, query) {
  const params = Object.fromEntries(PARAMS.map((p) => [p, query.get(p) || '']));
  const admin = api.claims().role === 'admin';
  const rows = new Map(); // job id -> {job, tr}
  const selected = new Set();
  let reloadTimer = null;
  let left = false;

  const summary = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' }, 'Loading…');
  const tbody = h('tbody');
  const selectAll = h('input', { type: 'checkbox', id: 'select-all', 'aria-label': 'Select every job on this page' });
  const bulkBar = h('div', { class: 'row', id: 'bulk' });
  const pager = h('nav', { class: 'row spread', 'aria-label': 'Pages' });
  const table = h('table', { class: 'jobs', id: 'jobs-table' },
    h('caption', { class: 'visually-hidden' }, 'Jobs'),
    h('thead', null, h('tr', null,
      h('th', null, selectAll),
      h('th', null, 'Job'),
      admin ? h('th', null, 'Tenant') : null,
      h('th', null, 'Function'),
      h('th', null, 'Status'),
      h('th', null, 'Progress'),
      h('th', { class: 'num' }, 'Attempt'),
      h('th', null, 'Actor'),
      h('th', null, 'Created'),
      h('th', { class: 'num' }, 'Took'))),
    tbody);

  // The filter form. Applying it changes the hash, which shows the page anew.
  const functionSelect = h('select', { name: 'function_id', id: 'f-function' }, h('option', { value: '' }, 'Any'));
  if (params.function_id) functionSelect.append(h('option', { value: params.function_id, selected: true }, params.function_id));
  const form = h('form', { class: 'panel', id: 'filters', role: 'search', 'aria-label': 'Filter jobs', onsubmit: apply },
    h('div', { class: 'form-grid' },
      h('label', null, 'Status', h('select', { name: 'status', id: 'f-status' },
        h('option', { value: '' }, 'Any'),
        STATUSES.map((s) => h('option', { value: s, selected: params.status === s }, s)))),
      h('label', null, 'Function', functionSelect),
      TEXT_FILTERS.map(([name, label]) => h('label', null, label, h('input', { name, id: `f-${name}`, value: params[name] }))),
      // Only an admin token sees other tenants' jobs: without a tenant, every tenant's.
      admin ? h('label', null, 'Tenant', h('input', { name: 'tenant_id', id: 'f-tenant_id', value: params.tenant_id, placeholder: 'every tenant' })) : null,
      h('label', null, 'Created from', h('input', { type: 'datetime-local', name: 'created_from', value: toLocalInput(params.created_from) })),
      h('label', null, 'Created before', h('input', { type: 'datetime-local', name: 'created_to', value: toLocalInput(params.created_to) })),
      h('label', null, 'Job ids (comma-separated)', h('input', { name: 'ids', value: params.ids, spellcheck: 'false' })),
      h('label', null, 'Order', h('select', { name: 'order' },
        h('option', { value: 'desc', selected: params.order !== 'asc' }, 'Newest first'),
        h('option', { value: 'asc', selected: params.order === 'asc' }, 'Oldest first'))),
      h('label', null, 'Per page', h('select', { name: 'size' },
        [10, 20, 50, 100].map((n) => h('option', { value: n, selected: String(n) === (params.size || '20') }, n))))),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Apply filters'),
      h('a', { class: 'button', href: '#/jobs' }, 'Clear')));

  function apply(e) {
    e.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const [k, v] of data.entries()) {
      const value = String(v).trim();
      if (!value) continue;
      next[k] = k === 'created_from' || k === 'created_to' ? new Date(value).toISOString() : value;
    }
    if (next.order === 'desc') delete next.order;
    if (next.size === '20') delete next.size;
    location.hash = `#/jobs${api.query(next)}`;
  }

  // On a narrow window the filters stay folded unless some are set.
  const filtering = PARAMS.some((p) => p !== 'page' && p !== 'size' && params[p]);
  const filters = h('details', { class: 'filters', open: filtering || window.matchMedia('(min-width: 761px)').matches },
    h('summary', null, filtering ? 'Filters (some set)' : 'Filters'), form);

  replace(main,
    h('div', { class: 'row spread' }, h('h1', null, 'Jobs'), h('a', { class: 'button', href: '#/functions' }, 'Start a job…')),
    filters,
    h('h2', { class: 'visually-hidden' }, 'Results'),
    h('div', { class: 'row spread' }, summary, bulkBar),
    h('div', { class: 'table-wrap' }, table),
    pager);

  api.get('/functions').then((fns) => {
    for (const fn of fns) {
      if (fn.id !== params.function_id) functionSelect.append(h('option', { value: fn.id }, fn.id));
    }
  }).catch(() => {});

  selectAll.addEventListener('change', () => {
    for (const id of rows.keys()) {
      if (selectAll.checked) selected.add(id);
      else selected.delete(id);
    }
    renderSelection();
  });

  function renderRow(job) {
    const label = job.name || job.id;
    const check = h('input', {
      type: 'checkbox', 'data-key': `select:${job.id}`, 'aria-label': `Select job ${label}`, checked: selected.has(job.id),
    });
    check.addEventListener('change', () => {
      if (check.checked) selected.add(job.id);
      else selected.delete(job.id);
      renderSelection();
    });
    const tr = h('tr', { 'data-id': job.id, 'data-status': job.status, class: selected.has(job.id) ? 'selected' : null },
      h('td', { 'data-label': 'Select' }, check),
      h('td', { 'data-label': 'Job', class: 'wrap' }, h('div', null,
        h('a', { href: `#/jobs/${job.id}`, 'data-key': `open:${job.id}` }, label),
        job.name ? h('div', { class: 'id mono' }, job.id) : null)),
      // An admin's list mixes tenants: the same name in two of them is two jobs.
      admin ? h('td', { 'data-label': 'Tenant', class: 'wrap' }, job.tenantId) : null,
      h('td', { 'data-label': 'Function', class: 'wrap' }, job.functionId),
      h('td', { 'data-label': 'Status', class: 'cell-status wrap' }, h('div', null, statusBadge(job.status),
        job.error ? h('div', { class: 'message error' }, job.error) : null)),
      h('td', { 'data-label': 'Progress', class: 'cell-progress' }, progressCell(job, `Progress of ${label}`)),
      h('td', { 'data-label': 'Attempt', class: 'num cell-attempt' }, `${job.attempt} / ${job.maxAttempts}`),
      h('td', { 'data-label': 'Actor', class: 'wrap' }, job.actor),
      h('td', { 'data-label': 'Created' }, time(job.createdAt)),
      h('td', { 'data-label': 'Took', class: 'num cell-took' }, duration(between(job.startedAt, job.finishedAt))));
    rows.set(job.id, { job, tr });
    return tr;
  }

  // refreshRow draws a row again, keeping keyboard focus on the control that had it.
  function refreshRow(id) {
    const row = rows.get(id);
    const focusKey = row.tr.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    const fresh = renderRow(row.job);
    row.tr.replaceWith(fresh);
    if (focusKey) {
      const again = fresh.querySelector(`[data-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  // The bulk bar: how many rows are selected and a button per action, updated in place so
  // that live updates never take the keyboard focus away; a confirmation replaces it.
  const selectedCount = h('span', { class: 'muted' });
  const actionButtons = BULK_ACTIONS.map((action) => {
    const button = h('button', { type: 'button', id: `bulk-${action.id}` });
    button.addEventListener('click', () => confirmBulk(action, chosenJobs().filter(action.eligible)));
    return { action, button };
  });
  const actionsRow = h('div', { class: 'row' }, selectedCount, actionButtons.map((a) => a.button));
  const confirmRow = h('div', { class: 'row', hidden: true });
  bulkBar.append(actionsRow, confirmRow);

  function chosenJobs() {
    return [...selected].map((id) => rows.get(id)).filter(Boolean).map((r) => r.job);
  }

  function renderSelection() {
    for (const [id, row] of rows) {
      row.tr.classList.toggle('selected', selected.has(id));
      row.tr.querySelector('input[type=checkbox]').checked = selected.has(id);
    }
    const onPage = [...rows.keys()];
    selectAll.checked = onPage.length > 0 && onPage.every((id) => selected.has(id));
    const chosen = chosenJobs();
    selectedCount.textContent = `${chosen.length} selected`;
    for (const { action, button } of actionButtons) {
      const eligible = chosen.filter(action.eligible).length;
      button.textContent = `${action.label} selected (${eligible})`;
      button.disabled = eligible === 0;
    }
  }

  function endConfirm(focus) {
    confirmRow.hidden = true;
    actionsRow.hidden = false;
    renderSelection();
    if (focus) focus.focus();
  }

  // confirmBulk asks once, in the page, before acting on the jobs.
  function confirmBulk(action, eligible) {
    const trigger = actionButtons.find((a) => a.action === action).button;
    const n = `${eligible.length} job${eligible.length === 1 ? '' : 's'}`;
    const yes = h('button', { type: 'button', class: 'danger', id: `confirm-${action.id}` }, `Yes, ${action.label.toLowerCase()} ${n}`);
    const no = h('button', { type: 'button', onclick: () => endConfirm(trigger) }, 'No');
    yes.addEventListener('click', async () => {
      yes.disabled = true;
      try {
        const done = await api.post(`/jobs/${action.id}`, { ids: eligible.map((job) => job.id) });
        for (const id of done.ids) {
          selected.delete(id);
          if (action.applied && rows.has(id)) {
            rows.get(id).job = { ...rows.get(id).job, ...action.applied };
            refreshRow(id);
          }
        }
        const skipped = done.skipped ? ` ${done.skipped} skipped: their status had changed.` : '';
        toast(`${done.acted} job${done.acted === 1 ? '' : 's'} ${action.verb}.${skipped}`);
        scheduleReload();
      } catch (err) {
        toast(`Not ${action.verb}: ${err.message}`);
      }
      endConfirm(trigger);
    });
    replace(confirmRow, h('span', null, `${action.label} ${n}?`), yes, no);
    actionsRow.hidden = true;
    confirmRow.hidden = false;
    yes.focus();
  }

  // renderPager links to the pages either side. Past the end (a stale link, or the last page
  // emptied as its jobs ended) the link back goes to the last page known to hold jobs (with
  // an estimated total there may be more after it), and there is no Next.
  function renderPager(list) {
    const pages = Math.max(1, Math.ceil(list.total / list.size));
    const link = (page, text, rel) => {
      const next = { ...params, page: page === 1 ? '' : page };
      return h('a', { class: 'button', href: `#/jobs${api.query(next)}`, rel, 'data-key': `page:${rel}` }, text);
    };
    const more = list.page < pages || (list.totalIsEstimate && list.jobs.length === list.size);
    replace(pager,
      list.page > 1 ? link(Math.min(list.page - 1, pages), list.page > pages + 1 ? `← Page ${formatNumber(pages)}` : '← Previous', 'prev') : h('span'),
      h('span', { class: 'muted' }, `Page ${list.page} of ${formatNumber(pages)}${list.totalIsEstimate ? '+' : ''}`),
      more ? link(list.page + 1, 'Next →', 'next') : h('span'));
  }

  // Reloads may overlap (a slow answer, then an event's reload): only the latest is shown.
  let loads = 0;
  async function load() {
    reloadTimer = null;
    const seq = ++loads;
    let list;
    try {
      list = await api.get(`/jobs${api.query(params)}`);
    } catch (err) {
      if (left || seq !== loads) return;
      summary.textContent = err.message;
      summary.classList.add('error');
      // MySQL away (503) or the service out of reach: try again, so the list comes back with
      // it even on a tenant where no event would reload it.
      if (err.status === 503 || err.status === 0) reloadTimer = setTimeout(load, 3000);
      return;
    }
    if (left || seq !== loads) return;
    summary.classList.remove('error');
    // Keep keyboard focus on the same control (a row's, or a page link) across a reload.
    const redrawn = [tbody, pager];
    const focusKey = redrawn.some((el) => el.contains(document.activeElement)) ? document.activeElement.dataset.key : null;
    rows.clear();
    replace(tbody, list.jobs.map(renderRow));
    if (list.jobs.length === 0) {
      tbody.append(h('tr', null, h('td', { colspan: table.tHead.rows[0].cells.length, class: 'muted' },
        list.total > 0 ? 'No jobs on this page: it is past the last one.' : 'No jobs match these filters.')));
    }
    for (const id of [...selected]) if (!rows.has(id)) selected.delete(id);
    const total = `${formatNumber(list.total)}${list.totalIsEstimate ? '+' : ''}`;
    summary.textContent = `${total} job${list.total === 1 ? '' : 's'}`;
    renderSelection();
    renderPager(list);
    if (focusKey) {
      const again = redrawn.map((el) => el.querySelector(`[data-key="${CSS.escape(focusKey)}"]`)).find(Boolean);
      if (again) again.focus();
    }
  }

  // scheduleReload reloads the page of jobs soon, once for a burst of changes.
  function scheduleReload() {
    if (!reloadTimer) reloadTimer = setTimeout(load, 700);
  }

  load();
  return {
    onEvent(name, data) {
      if (name === 'reset') {
        scheduleReload();
        return;
      }
      // An admin's feed has every tenant's events, each naming its tenant.
      if (params.tenant_id && data.tenantId && data.tenantId !== params.tenant_id) return;
      const row = rows.get(data.id);
      if (!row) {
        // A job this page does not show changed: it may belong here now (a new job, or one
        // that moved into the filtered status).
        if (name === 'status') scheduleReload();
        return;
      }
      // A terminal job never changes again: a late event cannot move it back.
      if (TERMINAL.has(row.job.status)) return;
      if (name === 'status') {
        row.job = { ...row.job, status: data.status, attempt: data.attempt, error: data.error };
        refreshRow(data.id);
        renderSelection();
        // The list has the exact times, and a status filter no longer matches (a pending
        // job that started leaves the list of pending ones): read it again.
        if (TERMINAL.has(data.status) || (params.status && data.status !== params.status)) scheduleReload();
      } else if (name === 'progress') {
        row.job = { ...row.job, progress: data.progress, total: data.total, message: data.message };
        updateProgress(row.tr.querySelector('.cell-progress .progress'), row.job, `Progress of ${row.job.name || row.job.id}`);
      }
    },
    leave() {
      left = true;
      clearTimeout(reloadTimer);
    },
  };
}
