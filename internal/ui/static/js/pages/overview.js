// Overview: the tenant's jobs by status, completed and failed per minute over the last
// hour, and each function's pending backlog, from GET /api/v1/stats (the token's tenant's;
// an admin token's page shows the tenant its tenant_id names, its own by default). Job
// changes pushed by the tenant's event stream make it read the numbers again (at most once a
// second or so); of an admin's feed of every tenant, only the shown tenant's. An admin's page
// says whose numbers they are, and its links to the jobs name that tenant: its Jobs list is
// every tenant's.
import * as api from '../api.js';
import { h, svg, replace, formatNumber, formatClock, duration, timeZone } from '../dom.js';

// chart draws the per-minute throughput as stacked bars: completed below, failed on top.
function chart(minutes, width) {
  const height = 200;
  const left = 36;
  const bottom = 22;
  const top = 8;
  const plotW = width - left - 4;
  const plotH = height - bottom - top;
  const peak = Math.max(1, ...minutes.map((m) => m.completed + m.failed));
  const step = plotW / minutes.length;
  const y = (n) => top + plotH - (n / peak) * plotH;
  const bars = minutes.map((m, i) => {
    const x = left + i * step + 1;
    const w = Math.max(1, step - 2);
    const at = formatClock(new Date(m.minute));
    return svg('g', null,
      svg('title', null, `${at}: ${m.completed} completed, ${m.failed} failed`),
      svg('rect', { class: 'bar-completed', x, width: w, y: y(m.completed), height: plotH + top - y(m.completed) }),
      svg('rect', { class: 'bar-failed', x, width: w, y: y(m.completed + m.failed), height: y(m.completed) - y(m.completed + m.failed) }));
  });
  const every = width < 500 ? 20 : 10;
  const ticks = minutes.map((m, i) => (i % every === 0
    ? svg('text', { x: left + i * step, y: height - 6, 'text-anchor': 'start' }, formatClock(new Date(m.minute)))
    : null));
  return svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'chart-title', focusable: 'false' },
    svg('title', { id: 'chart-title' }, 'Jobs completed and failed per minute over the last hour'),
    svg('line', { class: 'axis', x1: left, x2: width - 4, y1: top + plotH, y2: top + plotH }),
    svg('text', { x: left - 6, y: top + 8, 'text-anchor': 'end' }, formatNumber(peak)),
    svg('text', { x: left - 6, y: top + plotH, 'text-anchor': 'end' }, '0'),
    bars, ticks);
}

// chartTable is the same numbers as a table, for screen readers and for reading exact values.
function chartTable(minutes) {
  return h('details', null, h('summary', null, 'Show as a table'), h('div', { class: 'table-wrap' }, h('table', null,
    h('thead', null, h('tr', null, h('th', null, 'Minute'), h('th', { class: 'num' }, 'Completed'), h('th', { class: 'num' }, 'Failed'))),
    h('tbody', null, minutes.filter((m) => m.completed || m.failed).map((m) => h('tr', null,
      h('td', null, formatClock(new Date(m.minute))), h('td', { class: 'num' }, m.completed), h('td', { class: 'num' }, m.failed)))))));
}

// tenantChooser says whose numbers an operator sees, and opens another tenant's.
function tenantChooser(tenant, own) {
  const input = h('input', { id: 'overview-tenant-id', name: 'tenant_id', value: tenant, required: true, size: 16, autocomplete: 'off' });
  const form = h('form', { class: 'row', id: 'overview-tenant' },
    h('p', { class: 'muted' }, 'Numbers of tenant ', h('strong', null, tenant), own ? ', the tenant of this operator token.' : '.'),
    h('label', { for: 'overview-tenant-id' }, 'Tenant'), input, h('button', { type: 'submit' }, 'Show'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/overview?tenant_id=${encodeURIComponent(input.value.trim())}`;
  });
  return form;
}

export function mount(main, query) {
  const claims = api.claims();
  const admin = claims.role === 'admin';
  const tenant = (admin && query.get('tenant_id')) || claims.tenant;
  const scope = admin ? `&tenant_id=${encodeURIComponent(tenant)}` : '';
  const cards = h('div', { class: 'cards', id: 'counts' });
  const throughput = h('div', { class: 'chart panel', id: 'throughput' });
  const backlog = h('div', { class: 'table-wrap', id: 'backlog' });
  const updated = h('p', { class: 'muted', id: 'updated' });
  let timer = null;
  let refreshAt = 0;
  let soon = false; // a refresh after a change is due
  let left = false;

  replace(main,
    h('h1', null, 'Overview'),
    admin ? tenantChooser(tenant, tenant === claims.tenant) : null,
    h('section', { 'aria-labelledby': 'h-counts' }, h('h2', { id: 'h-counts' }, 'Jobs by status'), cards),
    h('section', { 'aria-labelledby': 'h-throughput' }, h('h2', { id: 'h-throughput' }, 'Finished per minute, last hour'), throughput),
    h('section', { 'aria-labelledby': 'h-backlog' }, h('h2', { id: 'h-backlog' }, 'Pending backlog by function'), backlog),
    updated);

  function render(stats) {
    replace(cards, stats.counts.map((c) => h('a', {
      class: `card status-card c-${c.status}`, href: `#/jobs?status=${c.status}${scope}`, 'data-status': c.status,
    }, h('div', { class: 'muted' }, c.status), h('div', { class: 'n' }, `${formatNumber(c.count)}${c.countIsEstimate ? '+' : ''}`))));

    const totals = stats.throughput.reduce((t, m) => ({ completed: t.completed + m.completed, failed: t.failed + m.failed }),
      { completed: 0, failed: 0 });
    replace(throughput,
      h('div', { class: 'row spread' },
        h('div', { class: 'legend' },
          h('span', { class: 'l-completed' }, `Completed (${formatNumber(totals.completed)})`),
          h('span', { class: 'l-failed' }, `Failed (${formatNumber(totals.failed)})`)),
        h('span', { class: 'muted' }, `Times in ${timeZone}`)),
      h('div', { class: 'plot' }),
      chartTable(stats.throughput));
    drawChart();

    replace(backlog, h('table', { id: 'backlog-table' },
      h('thead', null, h('tr', null,
        h('th', null, 'Function'), h('th', { class: 'num' }, 'Pending'), h('th', { class: 'num' }, 'Oldest due job waiting'))),
      h('tbody', null, stats.functions.map((f) => h('tr', { 'data-function': f.functionId },
        h('td', null, h('a', { href: `#/jobs?function_id=${encodeURIComponent(f.functionId)}&status=pending${scope}` }, f.functionId)),
        h('td', { class: 'num' }, `${formatNumber(f.pending)}${f.pendingIsEstimate ? '+' : ''}`),
        h('td', { class: 'num' }, f.oldestDueAt ? duration(f.oldestDueAgeSeconds * 1000) : '—'))))));
    updated.textContent = `Updated ${new Date().toLocaleTimeString(undefined, { hourCycle: 'h23' })}.`;
  }

  // The chart is drawn at the width it has, in pixels, so its text keeps its size; it is
  // drawn again when the window changes size.
  let last = null;
  function drawChart() {
    const plot = throughput.querySelector('.plot');
    if (plot && last) replace(plot, chart(last.throughput, Math.max(280, plot.clientWidth)));
  }
  let resizeTimer = null;
  const onResize = () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(drawChart, 150);
  };
  window.addEventListener('resize', onResize);

  async function load() {
    timer = null;
    soon = false;
    refreshAt = Date.now();
    try {
      const stats = await api.get(admin ? `/stats?tenant_id=${encodeURIComponent(tenant)}` : '/stats');
      if (!left) {
        last = stats;
        render(stats);
      }
    } catch (err) {
      if (!left) updated.textContent = `Could not read the numbers: ${err.message}`;
      // MySQL away (503) or the service out of reach: try again soon, as the lists do.
      if (!left && (err.status === 503 || err.status === 0)) timer = setTimeout(load, 3000);
    }
    // The minutes move on even when nothing happens.
    if (!left && !timer) timer = setTimeout(load, 30000);
  }

  // refreshSoon reads the numbers again after a change, at most about once a second.
  function refreshSoon() {
    if (soon) return;
    soon = true;
    clearTimeout(timer);
    timer = setTimeout(load, Math.max(300, refreshAt + 1000 - Date.now()));
  }

  load();
  return {
    onEvent(name, data) {
      if (name === 'progress' || (data.tenantId && data.tenantId !== tenant)) return;
      refreshSoon();
    },
    leave() {
      left = true;
      clearTimeout(timer);
      clearTimeout(resizeTimer);
      window.removeEventListener('resize', onResize);
    },
  };
}
