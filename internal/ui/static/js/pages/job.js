// Job detail: everything GET /api/v1/jobs/:id says, followed live over the job's own event
// stream (status, progress, log lines, then done with the result). EventSource resumes a
// dropped stream with Last-Event-ID by itself, so no event is lost or shown twice.
import * as api from '../api.js';
import {
  h, replace, time, duration, between, statusBadge, progressCell, updateProgress, prettyJSON, formatTime, toast, TERMINAL,
} from '../dom.js';

export function mount(main, { id }) {
  let job = null;
  let source = null;
  let retry = null;
  let ticker = null;
  let callbackTimer = null;
  let left = false;
  let logCount = 0;
  let confirming = false; // the cancel confirmation is open: live updates leave it be
  const seen = []; // status changes seen live: {at, status, attempt, error}

  const title = h('h1', null, 'Job');
  const badge = h('span', { id: 'job-status' });
  const streamState = h('span', { class: 'live', id: 'job-live', role: 'status', 'aria-live': 'polite' });
  const actions = h('div', { class: 'row', id: 'job-actions' });
  const progress = h('div', { id: 'job-progress' });
  const facts = h('dl', { class: 'facts', id: 'job-facts' });
  const timeline = h('ol', { class: 'timeline', id: 'job-timeline' });
  const errorBox = h('div', { id: 'job-error' });
  const params = h('pre', { class: 'json', id: 'job-params', tabindex: 0 });
  const result = h('pre', { class: 'json', id: 'job-result', tabindex: 0 });
  const log = h('pre', { class: 'log', id: 'job-log', tabindex: 0, 'aria-label': 'Output lines' });
  const logNote = h('p', { class: 'muted', id: 'job-log-note' });
  const callback = h('div', { id: 'job-callback' });
  const problem = h('p', { class: 'notice error', role: 'alert', id: 'job-problem', hidden: true });
  const content = h('div', null,
    h('div', { class: 'row spread' }, h('div', { class: 'row' }, title, badge), h('div', { class: 'row' }, streamState, actions)),
    h('section', { class: 'panel', 'aria-labelledby': 'h-progress' }, h('h2', { id: 'h-progress', class: 'visually-hidden' }, 'Progress'), progress),
    errorBox,
    h('div', { class: 'grid-2' },
      h('section', { 'aria-labelledby': 'h-facts' }, h('h2', { id: 'h-facts' }, 'Details'), h('div', { class: 'panel' }, facts)),
      h('section', { 'aria-labelledby': 'h-timeline' }, h('h2', { id: 'h-timeline' }, 'Timeline'), h('div', { class: 'panel' }, timeline))),
    h('div', { class: 'grid-2' },
      h('section', { 'aria-labelledby': 'h-params' }, h('h2', { id: 'h-params' }, 'Params'), params),
      h('section', { 'aria-labelledby': 'h-result' }, h('h2', { id: 'h-result' }, 'Result'), result)),
    h('section', { 'aria-labelledby': 'h-log' }, h('h2', { id: 'h-log' }, 'Output'), logNote, log),
    h('section', { 'aria-labelledby': 'h-callback' }, h('h2', { id: 'h-callback' }, 'Callback'), callback));
  replace(main, h('p', null, h('a', { href: '#/jobs' }, '← All jobs')), problem, content);

  const label = () => job.name || job.id;

  function render() {
    replace(title, job.name || 'Job ', job.name ? null : h('span', { class: 'mono' }, job.id));
    replace(badge, statusBadge(job.status));
    replace(progress, progressCell(job, `Progress of ${label()}`));
    renderFacts();
    renderTimeline();
    if (!confirming || TERMINAL.has(job.status)) {
      // The buttons are new: the focus one had moves to its successor (Cancel, or Rerun).
      const focused = actions.contains(document.activeElement);
      renderActions();
      if (focused) actions.querySelector('button').focus();
    }
    replace(errorBox, job.error
      ? h('section', { class: 'notice error', 'aria-labelledby': 'h-error' }, h('h2', { id: 'h-error' }, 'Error'), h('pre', { class: 'json' }, job.error))
      : null);
    params.textContent = prettyJSON(job.params);
    result.textContent = job.status === 'completed' ? prettyJSON(job.result) : (TERMINAL.has(job.status) ? 'No result.' : 'Not finished yet.');
    renderCallback();
  }

  function renderFacts() {
    const rows = [
      ['Id', h('span', { class: 'mono' }, job.id)],
      ['Function', h('a', { href: `#/functions` }, job.functionId)],
      ['Status', job.status],
      ['Attempt', `${job.attempt} of ${job.maxAttempts}`],
      ['Timeout per attempt', `${job.timeoutSeconds} s`],
      ['Actor', job.actor || '—'],
      ['Game', job.gameId || '—'],
      ['Env', job.env || '—'],
      ['Tenant', job.tenantId],
      ['Run at', time(job.runAt)],
    ];
    if (job.rerunOf) rows.push(['Rerun of', h('a', { href: `#/jobs/${job.rerunOf}`, id: 'rerun-of', class: 'mono' }, job.rerunOf)]);
    replace(facts, rows.map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
  }

  // The timeline: what the job records (creation, the latest attempt's start, the end) and
  // the changes this page saw happen. The service keeps only the latest attempt's start.
  function renderTimeline() {
    const items = [h('li', null, h('strong', null, 'Created'), ' ', time(job.createdAt))];
    if (job.runAt && job.runAt > job.createdAt && job.attempt <= 1) {
      items.push(h('li', null, h('strong', null, 'Due'), ' ', time(job.runAt)));
    }
    if (job.attempt > 1) {
      items.push(h('li', { class: 'muted' }, `Attempt${job.attempt > 2 ? `s 1–${job.attempt - 1}` : ' 1'} ended earlier (their times are not kept).`));
    }
    if (job.startedAt) {
      const queued = job.attempt === 1 ? between(job.runAt && job.runAt > job.createdAt ? job.runAt : job.createdAt, job.startedAt) : null;
      items.push(h('li', null, h('strong', null, `Attempt ${job.attempt} started`), ' ', time(job.startedAt),
        queued !== null ? h('div', { class: 'took' }, `after waiting ${duration(queued)}`) : null));
    }
    if (job.finishedAt) {
      items.push(h('li', null, h('strong', null, job.status[0].toUpperCase() + job.status.slice(1)), ' ', time(job.finishedAt),
        h('div', { class: 'took' }, [
          job.startedAt ? `ran ${duration(between(job.startedAt, job.finishedAt))}` : null,
          `${duration(between(job.createdAt, job.finishedAt))} after creation`,
        ].filter(Boolean).join(', '))));
    } else if (job.status === 'running' && job.startedAt) {
      items.push(h('li', null, h('strong', null, 'Running'), h('div', { class: 'took', id: 'running-for' },
        `for ${duration(Date.now() - new Date(job.startedAt))}`)));
    }
    for (const s of seen) {
      items.push(h('li', { class: 'seen' }, h('strong', null, `→ ${s.status}`), ` attempt ${s.attempt} `,
        h('span', { class: 'took' }, `seen at ${formatTime(s.at)}`), s.error ? h('div', { class: 'took' }, s.error) : null));
    }
    replace(timeline, items);
  }

  function renderActions() {
    confirming = false;
    if (TERMINAL.has(job.status)) {
      // A rerun is a new job like this one; the page moves to it.
      const rerun = h('button', { type: 'button', class: 'primary', id: 'rerun' }, 'Rerun job');
      rerun.addEventListener('click', async () => {
        rerun.disabled = true;
        try {
          const fresh = await api.post(`/jobs/${encodeURIComponent(job.id)}/rerun`);
          toast(`Job ${label()} rerun.`);
          location.hash = `#/jobs/${fresh.id}`;
        } catch (err) {
          toast(`Not rerun: ${err.message}`);
          rerun.disabled = false;
        }
      });
      replace(actions, rerun);
      return;
    }
    const cancel = h('button', { type: 'button', class: 'danger', id: 'cancel' }, 'Cancel job');
    cancel.addEventListener('click', () => {
      const yes = h('button', { type: 'button', class: 'danger', id: 'confirm-cancel' }, 'Yes, cancel it');
      const no = h('button', { type: 'button' }, 'Keep it');
      no.addEventListener('click', () => { renderActions(); actions.querySelector('button').focus(); });
      yes.addEventListener('click', async () => {
        yes.disabled = true;
        try {
          job = await api.post(`/jobs/${encodeURIComponent(job.id)}/cancel`);
          toast(`Job ${label()} cancelled.`);
          finish();
        } catch (err) {
          toast(`Not cancelled: ${err.message}`);
          renderActions();
        }
        // The disabled button lost the focus: it goes to what replaced it (Rerun, or Cancel).
        actions.querySelector('button').focus();
      });
      replace(actions, h('span', null, 'Cancel this job?'), yes, no);
      confirming = true;
      yes.focus();
    });
    replace(actions, cancel);
  }

  function renderCallback() {
    clearTimeout(callbackTimer);
    if (!job.callbackUrl) {
      replace(callback, h('p', { class: 'muted' }, 'No callback.'));
      return;
    }
    const cb = job.callback || {};
    replace(callback, h('dl', { class: 'facts panel' },
      h('dt', null, 'URL'), h('dd', { class: 'mono' }, job.callbackUrl),
      h('dt', null, 'Delivery'), h('dd', { id: 'callback-status' }, cb.status || '—'),
      h('dt', null, 'Attempts'), h('dd', null, String(cb.attempts || 0)),
      cb.lastError ? [h('dt', null, 'Last error'), h('dd', null, cb.lastError)] : null,
      cb.nextAttemptAt ? [h('dt', null, 'Next attempt'), h('dd', null, time(cb.nextAttemptAt))] : null,
      cb.deliveredAt ? [h('dt', null, 'Delivered'), h('dd', null, time(cb.deliveredAt))] : null));
    // Deliveries happen after the job ends; their state is not streamed, so it is read again.
    if (TERMINAL.has(job.status) && cb.status === 'pending') callbackTimer = setTimeout(reload, 5000);
  }

  function addLog(line) {
    logCount++;
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(h('span', { class: line.stream === 'stderr' ? 'stderr' : null }, `${line.line}\n`));
    if (atBottom) log.scrollTop = log.scrollHeight;
  }

  function showLogTail() {
    replace(log);
    logCount = 0;
    for (const line of job.logTail || []) addLog(line);
  }

  function setStreamState(state, text) {
    streamState.dataset.state = state;
    streamState.textContent = text;
  }

  // finish shows a job that has ended: its result, its kept output, no stream.
  function finish() {
    if (source) source.close();
    source = null;
    clearInterval(ticker);
    setStreamState('done', 'Finished');
    if ((job.logTail || []).length > logCount) showLogTail();
    logNote.textContent = job.logTail && job.logTail.length ? 'Output of the latest attempt (its last lines are kept).' : '';
    if (logCount === 0) logNote.textContent = 'No output.';
    render();
  }

  // readStart reads when an attempt that just began started: the status event does not say,
  // and the startedAt in hand is the previous attempt's (or none). Only that time is taken,
  // so the live log and progress are left as they are.
  function readStart(attempt) {
    api.get(`/jobs/${encodeURIComponent(id)}`).then((fresh) => {
      if (left || fresh.attempt !== attempt || job.attempt !== attempt || TERMINAL.has(job.status)) return;
      job = { ...job, startedAt: fresh.startedAt };
      render();
    }, () => {}); // the timeline keeps the time it had; the end's done event corrects it
  }

  function follow() {
    source = new EventSource(api.streamURL(`/jobs/${encodeURIComponent(id)}/stream`));
    const on = (name, fn) => source.addEventListener(name, (e) => {
      setStreamState('live', 'Live');
      fn(api.parse(e.data));
    });
    on('snapshot', (item) => {
      job = { ...job, ...item };
      render();
    });
    on('status', (s) => {
      seen.push({ at: new Date().toISOString(), ...s });
      job = { ...job, status: s.status, attempt: s.attempt, error: s.error };
      render();
      if (s.status === 'running') readStart(s.attempt);
    });
    on('progress', (p) => {
      job = { ...job, ...p };
      updateProgress(progress.querySelector('.progress'), job, `Progress of ${label()}`);
    });
    on('log', (line) => {
      logNote.textContent = 'Live output.';
      addLog(line);
    });
    // The events missed while reconnecting are no longer all kept: the job, with its latest
    // output lines, is read again; the stream goes on after them.
    on('reset', () => reload());
    on('done', (detail) => {
      job = detail;
      finish();
    });
    source.onerror = () => {
      setStreamState('reconnecting', 'Reconnecting…');
      if (source.readyState === EventSource.CLOSED) {
        // The service refused the stream (say it was restarting): start over shortly.
        source = null;
        retry = setTimeout(reload, 3000);
      }
    };
  }

  async function reload() {
    try {
      job = await api.get(`/jobs/${encodeURIComponent(id)}`);
    } catch (err) {
      if (left) return;
      if (!job) {
        // Nothing to show yet: say why instead. MySQL away (503) or the service out of reach:
        // try again, as the lists do, so the job shows once MySQL is back.
        problem.textContent = err.message;
        problem.hidden = false;
        content.hidden = true;
        if (err.status === 503 || err.status === 0) retry = setTimeout(reload, 3000);
        return;
      }
      // Say why (MySQL away, say), not only that the page is waiting.
      setStreamState('reconnecting', `Reconnecting… (${err.message})`);
      retry = setTimeout(reload, 3000);
      return;
    }
    if (left) return;
    problem.hidden = true;
    content.hidden = false;
    if (TERMINAL.has(job.status)) {
      showLogTail();
      finish();
      return;
    }
    // A stream that goes on (after a reset) sends only what follows: the kept lines come
    // first. A fresh stream begins with the job's recent lines itself; shown from here as
    // well, each would appear twice.
    if (source) {
      showLogTail();
    } else {
      replace(log);
      logCount = 0;
    }
    render();
    logNote.textContent = logCount ? 'Output so far, then live output.' : 'Live output appears here.';
    if (!source) follow();
    clearInterval(ticker);
    ticker = setInterval(() => {
      const el = document.getElementById('running-for');
      if (el && job.startedAt) el.textContent = `for ${duration(Date.now() - new Date(job.startedAt))}`;
    }, 1000);
  }

  setStreamState('connecting', '');
  reload();
  return {
    leave() {
      left = true;
      if (source) source.close();
      clearTimeout(retry);
      clearTimeout(callbackTimer);
      clearInterval(ticker);
    },
  };
}
