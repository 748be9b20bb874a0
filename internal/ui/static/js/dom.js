// Building elements and formatting values. Text always goes in as text nodes, never as
// HTML, so nothing a job carries can run in the page.

// h makes an element: h('a', {href: '#/jobs', class: 'x', onclick: fn}, 'text', child, [more]).
// Attributes that are null, undefined or false are left out; true sets an empty attribute.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else el.setAttribute(name, value === true ? '' : value);
  }
  append(el, children);
  return el;
}

// svg makes an SVG element the same way.
export function svg(tag, attrs, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) el.setAttribute(name, value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

// replace empties el and fills it with children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

export const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
export const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'];

// Times are shown in the browser's time zone, 24-hour, to the second; the exact UTC time
// is in the element's title and datetime.
const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function formatTime(iso) {
  return iso ? dateTime.format(new Date(iso)) : '';
}

export function formatClock(date) {
  return clock.format(date);
}

// time is a <time> element for an RFC 3339 time, or a dash for none.
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: `${d.toISOString()} UTC` }, dateTime.format(d));
}

// duration reads a span of milliseconds the way a person says it: 850 ms, 4.2 s, 3 min 5 s.
export function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${Math.floor(s % 60)} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function between(fromIso, toIso) {
  if (!fromIso || !toIso) return null;
  return new Date(toIso) - new Date(fromIso);
}

export function statusBadge(status) {
  return h('span', { class: `status status-${status}`, 'data-status': status }, status);
}

const number = new Intl.NumberFormat();
export function formatNumber(n) {
  return number.format(n);
}

// progressCell shows a job's progress as a <progress> bar (indeterminate while a running
// job reports no total), its numbers and its latest message.
export function progressCell(job, label) {
  const wrap = h('div', { class: 'progress' });
  updateProgress(wrap, job, label);
  return wrap;
}

export function updateProgress(wrap, job, label) {
  const bar = h('progress', { 'aria-label': label });
  let text = '';
  if (job.total > 0) {
    bar.max = job.total;
    bar.value = Math.min(job.progress, job.total);
    text = `${formatNumber(job.progress)} / ${formatNumber(job.total)}`;
  } else if (job.status === 'completed') {
    bar.max = 1;
    bar.value = 1;
  } else if (job.status !== 'running') {
    bar.max = 1;
    bar.value = 0;
  } else if (job.progress > 0) {
    text = formatNumber(job.progress);
  }
  replace(wrap, bar, h('span', { class: 'message' }, [text, job.message].filter(Boolean).join(' · ')));
}

// prettyJSON formats a JSON value for a <pre>.
export function prettyJSON(value) {
  return JSON.stringify(value === undefined ? null : value, null, 2);
}

// once wraps an async event handler so that events coming while it runs are dropped: a
// double click acts once. It sets no disabled: a disabled button loses the keyboard focus.
export function once(handler) {
  let busy = false;
  return async (e) => {
    if (busy) {
      e.preventDefault(); // a form's second submit must not go to the browser either
      return;
    }
    busy = true;
    try {
      await handler(e);
    } finally {
      busy = false;
    }
  };
}

// toast says something briefly in the page's live region.
let toastTimer = null;
export function toast(message) {
  const el = document.getElementById('toast');
  el.textContent = message;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.textContent = ''; }, 6000);
}
