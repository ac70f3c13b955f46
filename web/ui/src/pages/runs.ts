// Runs: every run of the database with a filter; live while any run is running.
import { api, Run } from '../api';
import { debounce, fmtPercent, fmtTime, h, link, replaceChildren } from '../dom';
import { subscribe } from '../live';
import { setQuery } from '../router';
import { errorBox, isAbort, loading, statusBadge } from './common';

const MAX_LIVE_STREAMS = 4;  // each open stream holds a server worker

export function runsPage(root: HTMLElement, _params: string[], query: URLSearchParams) {
  const filter = h('input', {
    type: 'search', id: 'runs-filter', placeholder: 'Filter by name, env, method or status',
    value: query.get('filter') ?? '', 'aria-label': 'Filter runs',
  });
  const body = h('div', null, loading());
  replaceChildren(root, h('h1', null, 'Runs'), h('div', { class: 'toolbar' }, filter), body);

  let runs: Run[] = [];
  let controller = new AbortController();
  let streams: (() => void)[] = [];

  const draw = () => {
    const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const shown = runs.filter((r) => {
      const hay = `${r.name} ${r.env} ${r.method} ${r.status}`.toLowerCase();
      return words.every((w) => hay.includes(w));
    });
    if (runs.length === 0) {
      replaceChildren(body, h('p', { class: 'empty' }, 'No runs in this database yet.'));
      return;
    }
    replaceChildren(body, h('table', { class: 'grid', id: 'runs-table' },
        h('thead', null, h('tr', null, ['Name', 'Env', 'Method', 'Status', 'Iterations', 'Episodes',
          'Best success', 'Started'].map((c, i) => h('th', { class: i >= 4 && i <= 6 ? 'num' : '' }, c)))),
        h('tbody', null, shown.map((r) => h('tr', { 'data-run': r.id },
            h('td', null, link(`/runs/${r.id}`, r.name || `run ${r.id}`)),
            h('td', null, r.env), h('td', null, r.method), h('td', null, statusBadge(r.status)),
            h('td', { class: 'num' }, r.iterations),
            h('td', { class: 'num' }, link(`/episodes?run=${r.id}`, r.episodes.toLocaleString())),
            h('td', { class: 'num' }, fmtPercent(r.best_success)),
            h('td', null, fmtTime(r.created_at)))))),
        h('p', { class: 'muted' }, `${shown.length} of ${runs.length} runs`));
  };

  const load = async () => {
    controller.abort();
    controller = new AbortController();
    try {
      runs = await api.runs(controller.signal);
      draw();
      follow();
    } catch (err) {
      if (!isAbort(err)) replaceChildren(body, errorBox(err));
    }
  };
  const reload = debounce(load, 300);

  // Follow the running runs (newest first) so counts and statuses move without a reload.
  const follow = () => {
    if (streams.length > 0) return;
    const running = runs.filter((r) => r.status === 'running').slice(-MAX_LIVE_STREAMS);
    streams = running.map((r) => subscribe(r.id, reload));
  };

  filter.addEventListener('input', () => {
    const q = new URLSearchParams(location.search);
    if (filter.value) q.set('filter', filter.value); else q.delete('filter');
    setQuery(q);
    draw();
  });
  load();
  return () => {
    controller.abort();
    streams.forEach((close) => close());
  };
}
