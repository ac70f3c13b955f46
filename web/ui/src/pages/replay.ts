// Replay: one episode turn by turn. Keyboard: ←/→ or k/j move between turns, p toggles the
// prompt, t toggles the shading mode. Every env/model string is inserted as text (dom.ts).
import { api, EpisodeDetail, Turn } from '../api';
import { fmtNumber, fmtTime, h, hueOf, link, replaceChildren } from '../dom';
import { setQuery } from '../router';
import { describeToken, entropyScale, ShadeMode, shadeColor, shadeIntensity, tokenLabel } from '../tokens';
import { badge, errorBox, facts, isAbort, jsonBlock, loading, statusBadge, successBadge } from './common';

let shadeMode: ShadeMode = 'logprob';  // kept across episodes while the app is open

export function replayPage(root: HTMLElement, params: string[], query: URLSearchParams) {
  const episodeId = Number(params[0]);
  const controller = new AbortController();
  replaceChildren(root, loading());
  let episode: EpisodeDetail;
  let current = 0;
  let promptOpen = false;

  const strip = h('div', { class: 'turn-strip', id: 'turn-strip', role: 'tablist' });
  const panel = h('section', { class: 'turn', id: 'turn-panel' });

  const select = (index: number) => {
    if (!episode || episode.turns.length === 0) return;
    current = Math.min(Math.max(index, 0), episode.turns.length - 1);
    const q = new URLSearchParams(location.search);
    q.set('turn', String(current));
    setQuery(q);
    for (const [i, b] of [...strip.children].entries()) {
      b.classList.toggle('current', i === current);
      b.setAttribute('aria-selected', String(i === current));
    }
    drawTurn(episode.turns[current]);
  };

  const tokenView = (t: Turn) => {
    const inspector = h('div', { class: 'inspector', id: 'token-inspector' }, 'Hover a token to see its values.');
    if (t.token_ids.length === 0) {
      return h('div', null, h('pre', { class: 'text response' }, t.response || '(no generated text)'));
    }
    const scale = entropyScale(t.entropies);
    const spans = t.token_ids.map((id, i) => {
      const text = t.tokens ? t.tokens[i] : null;
      const lp = t.logprobs[i];
      const ent = t.entropies[i];
      const value = shadeMode === 'logprob' ? lp : ent;
      const intensity = shadeIntensity(shadeMode, value, scale);
      const desc = describeToken(text, id, lp, ent);
      const span = h('span', { class: `tok${text === null ? ' unknown' : ''}${intensity === null ? ' noval' : ''}`,
        title: desc, 'data-index': i }, tokenLabel(text, id));
      if (intensity !== null) span.style.backgroundColor = shadeColor(intensity);
      span.addEventListener('mouseenter', () => replaceChildren(inspector, `#${i} · ${desc}`));
      return span;
    });
    const toggle = h('div', { class: 'toggle', role: 'group', 'aria-label': 'Shade tokens by' },
        (['logprob', 'entropy'] as ShadeMode[]).map((mode) => h('button', {
          type: 'button', class: mode === shadeMode ? 'on' : '', id: `shade-${mode}`,
          'aria-pressed': String(mode === shadeMode),
          onclick: () => { shadeMode = mode; drawTurn(t); } }, mode === 'logprob' ? 'log-prob' : 'entropy')));
    return h('div', null,
        h('div', { class: 'toolbar' }, h('span', { class: 'muted' }, 'shade by'), toggle,
            h('span', { class: 'legend' }, h('span', { class: 'swatch low' }), shadeMode === 'logprob' ? 'likely' : 'certain',
                h('span', { class: 'swatch high' }), shadeMode === 'logprob' ? 'unlikely' : 'uncertain')),
        h('div', { class: 'tokens', id: 'tokens' }, spans),
        inspector,
        t.tokens ? null : h('details', null, h('summary', null, 'Generated text (the server has no tokenizer for this run, so tokens show as ids)'),
            h('pre', { class: 'text response' }, t.response)));
  };

  const drawTurn = (t: Turn) => {
    const n = episode.turns.length;
    const parts = t.advantage_parts && typeof t.advantage_parts === 'object' ? Object.entries(t.advantage_parts) : [];
    const peers = t.anchor_peers ?? [];
    // The episode layout appends a message per turn to one growing sequence: the model read every
    // earlier turn too, so this is not a whole prompt.
    const episodeLayout = (episode.info as { layout?: string } | null)?.layout === 'episode';
    const promptTitle = episodeLayout && t.turn_index > 0
      ? `Message appended this turn (episode layout: the model also read every earlier turn; ${t.prompt.length.toLocaleString()} characters)`
      : `Prompt the model saw (${t.prompt.length.toLocaleString()} characters)`;
    const prompt = h('details', { class: 'prompt', id: 'prompt', open: promptOpen },
        h('summary', null, promptTitle),
        h('pre', { class: 'text' }, t.prompt || '(empty: this policy had no prompt)'));
    prompt.addEventListener('toggle', () => { promptOpen = prompt.open; });
    replaceChildren(panel,
        h('h2', null, `Turn ${t.turn_index + 1} of ${n}`,
            h('span', { class: 'muted hint' }, '  ←/→ or k/j to move, p for the prompt, t to toggle shading')),
        h('h3', null, 'Observation'),
        h('pre', { class: 'text observation', id: 'observation' }, t.observation),
        t.image_ref ? (t.image_ref.startsWith('data:image/')
            ? h('img', { class: 'frame', src: t.image_ref, alt: 'observation image' })
            : h('p', { class: 'muted' }, 'Image: ', h('code', null, t.image_ref))) : null,
        prompt,
        h('h3', null, 'Generated'),
        tokenView(t),
        h('div', { class: 'cards' },
            h('div', { class: 'card' }, h('h4', null, 'Action'),
                h('code', { class: 'action', id: 'action' }, t.action || '(none)'), ' ',
                t.action_valid ? badge('valid', 'good') : badge('invalid', 'bad')),
            h('div', { class: 'card' }, h('h4', null, 'Reward'), h('span', { class: 'big', id: 'reward' }, fmtNumber(t.reward)),
                t.terminated ? badge('terminated', 'neutral') : null, t.truncated ? badge('truncated', 'warn') : null),
            h('div', { class: 'card', id: 'advantage' }, h('h4', null, 'Advantage'),
                h('span', { class: 'big' }, t.advantage === null ? '–' : fmtNumber(t.advantage, 4)),
                parts.length ? h('table', { class: 'grid compact' }, h('tbody', null, parts.map(([k, v]) =>
                    h('tr', null, h('td', null, k), h('td', { class: 'num' },
                        typeof v === 'number' ? fmtNumber(v, 4) : JSON.stringify(v))))))
                    : h('p', { class: 'muted' }, t.advantage === null ? 'not computed (evaluation or not yet learned)' : 'no parts recorded'))),
        h('h3', null, 'Anchor state'),
        h('div', { class: 'anchor', id: 'anchor' },
            h('span', { class: 'swatch', 'data-hue': hueOf(t.anchor_hash) }),
            h('pre', { class: 'text anchor-key' }, t.anchor_key || '(no anchor key)'),
            h('p', { class: 'muted' }, `hash ${t.anchor_hash} · ${peers.length} other turn${peers.length === 1 ? '' : 's'} of group `,
                link(`/runs/${episode.run_id}/groups/${encodeURIComponent(episode.group_id)}`, episode.group_id),
                ' share this state'),
            peers.length ? h('ul', { class: 'peers', id: 'anchor-peers' }, peers.map((p) => h('li', null,
                link(`/episodes/${p.episode_id}?turn=${p.turn_index}`, `episode ${p.episode_id}, turn ${p.turn_index + 1}`),
                p.episode_id === episode.id ? ' (this episode)' : ''))) : null),
        h('details', null, h('summary', null, 'Timings and env info'), jsonBlock({ timings: t.timings, info: t.info })));
    const swatch = panel.querySelector('.anchor .swatch') as HTMLElement | null;
    if (swatch) swatch.style.backgroundColor = `hsl(${hueOf(t.anchor_hash)}, 70%, 55%)`;
  };

  const onKey = (ev: KeyboardEvent) => {
    const target = ev.target as HTMLElement;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'SELECT' || target.tagName === 'TEXTAREA')) return;
    if (ev.metaKey || ev.ctrlKey || ev.altKey) return;
    if (ev.key === 'ArrowRight' || ev.key === 'j') select(current + 1);
    else if (ev.key === 'ArrowLeft' || ev.key === 'k') select(current - 1);
    else if (ev.key === 'Home') select(0);
    else if (ev.key === 'End') select(episode.turns.length - 1);
    else if (ev.key === 'p') {
      const d = panel.querySelector('#prompt') as HTMLDetailsElement | null;
      if (d) { d.open = !d.open; promptOpen = d.open; }
    } else if (ev.key === 't') {
      shadeMode = shadeMode === 'logprob' ? 'entropy' : 'logprob';
      select(current);
    } else return;
    ev.preventDefault();
  };

  api.episode(episodeId, controller.signal).then((e) => {
    episode = e;
    replaceChildren(strip, e.turns.map((t, i) => {
      const b = h('button', { type: 'button', role: 'tab', class: `turn-tab${t.action_valid ? '' : ' invalid'}${t.reward > 0 ? ' rewarded' : ''}`,
        title: `turn ${i + 1}: ${t.action}`, onclick: () => select(i) }, String(i + 1));
      return b;
    }));
    replaceChildren(root,
        h('p', { class: 'crumbs' }, link(`/episodes?run=${e.run_id}`, '← episodes of this run'), ' · ',
            link(`/runs/${e.run_id}`, `run ${e.run_id}`), ' · group ',
            link(`/runs/${e.run_id}/groups/${encodeURIComponent(e.group_id)}`, e.group_id)),
        h('h1', null, `Episode ${e.id} `, successBadge(e.success), ' ', statusBadge(e.status)),
        facts([['task', e.task_id], ['type', e.task_type], ['env', e.env], ['split', e.split],
          ['iteration', e.iteration], ['return', fmtNumber(e.return)], ['turns', e.num_turns],
          ['policy', e.policy], ['seed', e.seed], ['created', fmtTime(e.created_at)]]),
        e.abort_reason ? h('p', { class: 'error' }, `aborted: ${e.abort_reason}`) : null,
        e.token_source ? h('p', { class: 'muted' }, 'token text from ', h('code', null, e.token_source)) : null,
        strip,
        e.turns.length ? panel : h('p', { class: 'empty' }, 'This episode has no turns.'));
    select(Number(query.get('turn') ?? 0) || 0);
  }).catch((err) => {
    if (!isAbort(err)) replaceChildren(root, errorBox(err), link('/episodes', 'Back to the episodes'));
  });

  document.addEventListener('keydown', onKey);
  return () => {
    controller.abort();
    document.removeEventListener('keydown', onKey);
  };
}
