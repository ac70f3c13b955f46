// Group: the G episodes of one group side by side, aligned by turn, outcome at the top. Turns
// of different episodes that share an anchor state carry the same colour mark.
import { api, EpisodeDetail, GroupDetail, Turn } from '../api';
import { fmtNumber, fmtPercent, h, link, replaceChildren } from '../dom';

// Distinct colours for the shared states of a group, in order of first appearance (Tableau 10).
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1',
  '#ff9da7', '#9c755f', '#bab0ac'];
import { badge, errorBox, isAbort, loading, statusBadge, successBadge } from './common';

export function groupPage(root: HTMLElement, params: string[]) {
  const runId = Number(params[0]);
  const groupId = params[1];
  const controller = new AbortController();
  replaceChildren(root, loading());

  const cell = (e: EpisodeDetail, t: Turn | undefined, colors: Map<string, string>) => {
    if (!t) return h('div', { class: 'gcell empty-cell' });
    const mark = h('span', { class: 'mark', title: `anchor ${t.anchor_key}` });
    const color = colors.get(t.anchor_hash);
    if (color) mark.style.backgroundColor = color;
    return h('div', { class: `gcell${t.action_valid ? '' : ' invalid'}`, 'data-episode': e.id, 'data-turn': t.turn_index },
        mark,
        link(`/episodes/${e.id}?turn=${t.turn_index}`, h('code', { class: 'action' }, t.action || '(none)')),
        t.action_valid ? null : badge('invalid', 'bad'),
        h('div', { class: 'gmeta' }, `r ${fmtNumber(t.reward)}`,
            t.advantage === null ? '' : ` · adv ${fmtNumber(t.advantage, 3)}`),
        h('details', null, h('summary', null, 'observation'), h('pre', { class: 'text' }, t.observation)));
  };

  const draw = (g: GroupDetail) => {
    const eps = g.episodes;
    const maxTurns = Math.max(0, ...eps.map((e) => e.turns.length));
    const counts = new Map<string, number>();
    for (const e of eps) for (const t of e.turns) counts.set(t.anchor_hash, (counts.get(t.anchor_hash) ?? 0) + 1);
    const colors = new Map<string, string>();
    for (let i = 0; i < maxTurns; i++) {  // row by row, so the first rows get the first colours
      for (const e of eps) {
        const hash = e.turns[i]?.anchor_hash;
        if (hash !== undefined && (counts.get(hash) ?? 0) > 1 && !colors.has(hash)) {
          colors.set(hash, PALETTE[colors.size % PALETTE.length]);
        }
      }
    }
    const wins = eps.filter((e) => e.success).length;
    const mean = eps.reduce((s, e) => s + e.return, 0) / Math.max(1, eps.length);
    const first = eps[0];
    const grid = h('div', { class: 'group-grid', id: 'group-grid' });
    grid.style.gridTemplateColumns = `3.5em repeat(${eps.length}, minmax(12em, 1fr))`;
    grid.appendChild(h('div', { class: 'ghead corner' }, 'turn'));
    for (const e of eps) {
      grid.appendChild(h('div', { class: `ghead ${e.success ? 'won' : 'lost'}`, 'data-episode': e.id },
          link(`/episodes/${e.id}`, `episode ${e.id}`), h('div', null, successBadge(e.success), ' ', statusBadge(e.status)),
          h('div', { class: 'gmeta' }, `return ${fmtNumber(e.return)} · ${e.num_turns} turns · ${e.policy}`)));
    }
    for (let i = 0; i < maxTurns; i++) {
      grid.appendChild(h('div', { class: 'gturn' }, String(i + 1)));
      for (const e of eps) grid.appendChild(cell(e, e.turns[i], colors));
    }
    replaceChildren(root,
        h('p', { class: 'crumbs' }, link(`/runs/${runId}`, `run ${runId}`), ' · ',
            link(`/episodes?run=${runId}&group=${encodeURIComponent(groupId)}`, 'as a list')),
        h('h1', null, `Group ${groupId}`),
        h('p', { class: 'outcome', id: 'group-outcome' },
            `${wins} of ${eps.length} succeeded (${fmtPercent(eps.length ? wins / eps.length : null)}) · mean return ${fmtNumber(mean)}`,
            first ? ` · task ${first.task_id} (${first.task_type}) · ${first.split} · iteration ${first.iteration}` : ''),
        h('p', { class: 'muted hint' }, 'A coloured mark means the turn\'s state occurs in more than one place in the group (same anchor); each action opens the replay at that turn.'),
        h('div', { class: 'table-box' }, grid));
  };

  api.group(runId, groupId, controller.signal).then(draw).catch((err) => {
    if (!isAbort(err)) replaceChildren(root, errorBox(err), link(`/runs/${runId}`, 'Back to the run'));
  });
  return () => controller.abort();
}
