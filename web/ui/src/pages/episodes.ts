// Episodes: the store's filters, text search, sortable columns and server-side pagination. The
// page never holds more than one page of rows, so a 100,000-episode database stays responsive;
// typing is debounced and a newer request cancels the one in flight.
import { api, Episode, Run } from '../api';
import { debounce, fmtNumber, fmtTime, h, link, replaceChildren } from '../dom';
import { subscribe } from '../live';
import { navigate, setQuery } from '../router';
import { errorBox, isAbort, statusBadge, successBadge } from './common';

const FILTERS = ['run', 'iteration', 'split', 'status', 'success', 'q', 'policy', 'task_type'] as const;
const PAGE_SIZES = [25, 50, 100, 200];

export function episodesPage(root: HTMLElement, _params: string[], query: URLSearchParams) {
  const state = new URLSearchParams(query);
  if (!state.get('sort')) state.set('sort', 'id');
  if (!state.get('order')) state.set('order', 'desc');
  let controller = new AbortController();
  let runs: Run[] = [];
  let close: (() => void) | undefined;
  let liveRun: string | null = null;
  let shown: Episode[] | null = null;  // the rows on screen

  const limit = () => Number(state.get('limit') ?? 50);
  const offset = () => Number(state.get('offset') ?? 0);

  // Controls.
  const runSelect = h('select', { id: 'f-run', 'aria-label': 'Run' }, h('option', { value: '' }, 'all runs'));
  const iteration = h('input', { id: 'f-iteration', type: 'number', min: 0, placeholder: 'iteration', 'aria-label': 'Iteration' });
  const split = h('input', { id: 'f-split', list: 'splits', placeholder: 'split', 'aria-label': 'Split' });
  const splits = h('datalist', { id: 'splits' }, ['train', 'valid_seen', 'valid_unseen'].map((s) => h('option', { value: s })));
  const status = h('select', { id: 'f-status', 'aria-label': 'Status' }, ['', 'ok', 'truncated', 'aborted']
      .map((s) => h('option', { value: s }, s || 'any status')));
  const success = h('select', { id: 'f-success', 'aria-label': 'Success' }, [['', 'any outcome'], ['true', 'success'], ['false', 'failure']]
      .map(([v, label]) => h('option', { value: v }, label)));
  const search = h('input', { id: 'f-q', type: 'search', placeholder: 'Search observations and actions', 'aria-label': 'Search' });
  const controls: Record<string, HTMLInputElement | HTMLSelectElement> = {
    run: runSelect, iteration, split, status, success, q: search,
  };
  for (const [name, el] of Object.entries(controls)) el.value = state.get(name) ?? '';

  const summary = h('span', { class: 'muted', id: 'episodes-summary' });
  const pager = h('div', { class: 'pager' });
  const table = h('div', { class: 'table-box' });
  const extra = h('div', { class: 'muted' });
  replaceChildren(root,
      h('h1', null, 'Episodes'),
      h('form', { class: 'toolbar filters', onsubmit: (e: Event) => e.preventDefault() },
          runSelect, iteration, split, splits, status, success, search,
          h('button', { type: 'button', id: 'f-clear', onclick: () => {
            for (const f of FILTERS) state.delete(f);
            for (const el of Object.values(controls)) el.value = '';
            state.delete('offset');
            refresh();
          } }, 'Clear')),
      extra, h('div', { class: 'toolbar' }, summary, pager), table);

  const showExtraFilters = () => {
    const rest = [...state.entries()].filter(([k]) => !(k in controls) &&
        !['sort', 'order', 'limit', 'offset'].includes(k));
    replaceChildren(extra, rest.length ? ['Also filtered by ', rest.map(([k, v]) => `${k} = ${v}`).join(', ')] : []);
  };

  const header = (label: string, field?: string, numeric = false) => {
    if (!field) return h('th', { class: numeric ? 'num' : '' }, label);
    const active = state.get('sort') === field;
    const desc = state.get('order') === 'desc';
    return h('th', { class: `sortable${active ? ' active' : ''}${numeric ? ' num' : ''}`, 'data-sort': field,
      'aria-sort': active ? (desc ? 'descending' : 'ascending') : 'none',
      onclick: () => {
        if (active) state.set('order', desc ? 'asc' : 'desc');
        else { state.set('sort', field); state.set('order', field === 'id' ? 'desc' : 'asc'); }
        state.delete('offset');
        refresh();
      } }, label, active ? (desc ? ' ▼' : ' ▲') : '');
  };

  const drawRows = (episodes: Episode[]) => {
    const runName = new Map(runs.map((r) => [r.id, r.name]));
    replaceChildren(table, h('table', { class: 'grid', id: 'episodes-table' },
        h('thead', null, h('tr', null, header('id', 'id', true), header('run'), header('iter', 'iteration', true),
            header('group'), header('task'), header('type'), header('split'), header('status'),
            header('outcome'), header('return', 'return', true), header('turns', 'num_turns', true),
            header('policy'), header('created', 'created_at'))),
        h('tbody', null, episodes.map((e) => h('tr', {
          class: 'clickable', 'data-episode': e.id,
          onclick: (ev: MouseEvent) => {
            if ((ev.target as Element).closest('a')) return;
            navigate(`/episodes/${e.id}`);
          } },
          h('td', { class: 'num' }, link(`/episodes/${e.id}`, e.id)),
          h('td', null, link(`/runs/${e.run_id}`, runName.get(e.run_id) ?? `run ${e.run_id}`)),
          h('td', { class: 'num' }, e.iteration),
          h('td', null, link(`/runs/${e.run_id}/groups/${encodeURIComponent(e.group_id)}`, e.group_id)),
          h('td', null, e.task_id), h('td', null, e.task_type), h('td', null, e.split),
          h('td', null, statusBadge(e.status)), h('td', null, successBadge(e.success)),
          h('td', { class: 'num' }, fmtNumber(e.return)), h('td', { class: 'num' }, e.num_turns),
          h('td', null, e.policy), h('td', null, fmtTime(e.created_at)))))));
    if (episodes.length === 0) table.appendChild(h('p', { class: 'empty' }, 'No episode matches.'));
  };

  const drawPager = (total: number) => {
    const pages = Math.max(1, Math.ceil(total / limit()));
    const page = Math.floor(offset() / limit()) + 1;
    const go = (p: number) => () => {
      state.set('offset', String((Math.min(Math.max(p, 1), pages) - 1) * limit()));
      refresh();
    };
    const size = h('select', { id: 'page-size', 'aria-label': 'Rows per page' },
        PAGE_SIZES.map((n) => h('option', { value: n, selected: n === limit() }, `${n} / page`)));
    size.addEventListener('change', () => { state.set('limit', size.value); state.delete('offset'); refresh(); });
    replaceChildren(pager,
        h('button', { type: 'button', disabled: page <= 1, onclick: go(1) }, '«'),
        h('button', { type: 'button', id: 'page-prev', disabled: page <= 1, onclick: go(page - 1) }, '‹ prev'),
        h('span', { id: 'page-info' }, `page ${page.toLocaleString()} of ${pages.toLocaleString()}`),
        h('button', { type: 'button', id: 'page-next', disabled: page >= pages, onclick: go(page + 1) }, 'next ›'),
        h('button', { type: 'button', disabled: page >= pages, onclick: go(pages) }, '»'),
        size);
    const first = total === 0 ? 0 : offset() + 1;
    summary.textContent = `${first.toLocaleString()}–${Math.min(offset() + limit(), total).toLocaleString()} of ` +
        `${total.toLocaleString()} episodes`;
    summary.dataset.total = String(total);
  };

  const fetchPage = async () => {
    controller.abort();
    controller = new AbortController();
    table.classList.add('stale');
    try {
      const page = await api.episodes(state, controller.signal);
      if (page.total > 0 && offset() >= page.total) {  // the filter shrank the result
        state.set('offset', String(Math.floor((page.total - 1) / limit()) * limit()));
        return fetchPage();
      }
      table.classList.remove('stale');
      shown = page.episodes;
      drawRows(page.episodes);
      drawPager(page.total);
    } catch (err) {
      if (isAbort(err)) return;
      table.classList.remove('stale');
      replaceChildren(table, errorBox(err));
      replaceChildren(pager);
      summary.textContent = '';
    }
  };

  // Follow the filtered run: new episodes appear without a reload.
  const follow = () => {
    const run = state.get('run');
    if (run === liveRun) return;
    close?.();
    close = undefined;
    liveRun = run;
    if (run) close = subscribe(Number(run), () => liveRefresh());
  };
  const liveRefresh = debounce(fetchPage, 250);

  const refresh = () => {
    setQuery(state);
    showExtraFilters();
    follow();
    fetchPage();
  };
  const fromControls = () => {
    for (const [name, el] of Object.entries(controls)) {
      const v = el.value.trim();
      if (v) state.set(name, v); else state.delete(name);
    }
    state.delete('offset');
    refresh();
  };
  const typed = debounce(fromControls, 300);
  for (const el of Object.values(controls)) {
    el.addEventListener(el instanceof HTMLSelectElement ? 'change' : 'input', el instanceof HTMLSelectElement ? fromControls : typed);
  }

  const runsController = new AbortController();
  api.runs(runsController.signal).then((r) => {
    runs = r;
    for (const run of r) runSelect.appendChild(h('option', { value: run.id }, `${run.name || 'run'} (#${run.id})`));
    runSelect.value = state.get('run') ?? '';
    if (shown) drawRows(shown);  // the first page may have come first: now with run names
  }).catch(() => {});  // the list works without run names

  refresh();

  return () => {
    controller.abort();
    runsController.abort();
    close?.();
  };
}
