// Run: metric curves (keys picked from the run's metric keys, other runs overlaid, drag to zoom,
// double-click to reset), the config, iterations and checkpoints. Live while the run writes.
import uPlot from 'uplot';
import { api, Run, RunDetail } from '../api';
import { debounce, fmtNumber, fmtTime, h, hueOf, link, replaceChildren } from '../dom';
import { subscribe } from '../live';
import { setQuery } from '../router';
import { INTEGER_STEPS, tickLabels } from '../ticks';
import { errorBox, facts, isAbort, jsonBlock, loading, statusBadge } from './common';

// The keys shown first: one of each group, the first alternative that the run has (success on
// a validation split before training success, which is noisier).
const PREFERRED: RegExp[][] = [
  [/^success\/valid_seen$/, /^success\/(valid|eval|test)/, /^success\/train$/, /^success/],
  [/^reward\/mean$/, /reward|return/],
  [/^entropy$/, /entropy/],
  [/^kl$/, /(^|\/)kl/],
  [/^loss/, /loss/],
];

export function defaultKeys(keys: string[]): string[] {
  const picked: string[] = [];
  for (const group of PREFERRED) {
    for (const pattern of group) {
      const k = keys.find((key) => pattern.test(key) && !picked.includes(key));
      if (k) { picked.push(k); break; }
    }
    if (picked.length === 4) break;
  }
  return picked.length > 0 ? picked : keys.slice(0, 4);
}

// The figure `turnwise plot` draws for this key and these runs (GET /api/runs/{id}/chart.svg).
function chartUrl(runId: number, key: string, runIds: number[]): string {
  const q = new URLSearchParams({ keys: key });
  const others = runIds.filter((id) => id !== runId);
  if (others.length) q.set('compare', others.join(','));
  return `/api/runs/${runId}/chart.svg?${q}`;
}

// The same SVG drawn onto a canvas at twice its size and downloaded as PNG.
async function savePng(svgUrl: string, name: string) {
  const svg = await (await fetch(svgUrl)).text();
  const image = new Image();
  let binary = '';
  for (const byte of new TextEncoder().encode(svg)) binary += String.fromCharCode(byte);
  image.src = `data:image/svg+xml;base64,${btoa(binary)}`;
  await image.decode();
  const canvas = document.createElement('canvas');
  canvas.width = image.naturalWidth * 2;
  canvas.height = image.naturalHeight * 2;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/png'));
  if (!blob) return;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}

function keep(box: HTMLElement, name: string, labels: string[]): string[] {
  box.dataset[name] = JSON.stringify(labels);
  return labels;
}

function runColor(index: number, runId: number): string {
  return index === 0 ? '#2563eb' : `hsl(${hueOf(`run${runId}`)}, 65%, 45%)`;
}

export function runPage(root: HTMLElement, params: string[], query: URLSearchParams) {
  const runId = Number(params[0]);
  const controller = new AbortController();
  const charts: uPlot[] = [];
  let close: (() => void) | undefined;
  replaceChildren(root, loading());

  let detail: RunDetail;
  let others: Run[] = [];
  let selected: string[] = [];
  let compare: number[] = (query.get('compare') ?? '').split(',').filter(Boolean).map(Number);

  const header = h('div');
  const picker = h('div', { class: 'picker' });
  const chartsBox = h('div', { class: 'charts', id: 'charts' });
  const lower = h('div');

  const saveQuery = () => {
    const q = new URLSearchParams();
    if (selected.length) q.set('keys', selected.join(','));
    if (compare.length) q.set('compare', compare.join(','));
    setQuery(q);
  };

  let generation = 0;  // a newer drawCharts call wins over one still waiting for data
  const drawCharts = async () => {
    const mine = ++generation;
    charts.splice(0).forEach((c) => c.destroy());
    if (selected.length === 0) {
      replaceChildren(chartsBox, h('p', { class: 'empty' }, 'Pick metric keys to plot.'));
      return;
    }
    const runIds = [runId, ...compare.filter((id) => id !== runId)];
    const names = new Map<number, string>([[runId, detail.name], ...others.map((r) =>
      [r.id, r.name] as [number, string])]);
    try {
      const all = await Promise.all(runIds.map((id) => api.metrics(id, selected, controller.signal)));
      if (mine !== generation) return;
      replaceChildren(chartsBox);
      const width = Math.max(320, Math.min(640, chartsBox.clientWidth - 16));
      for (const key of selected) {
        const xs = [...new Set(all.flatMap((series) => (series[key] ?? []).map((p) => p[0])))]
            .sort((a, b) => a - b);
        const ys = all.map((series) => {
          const byIter = new Map((series[key] ?? []).map((p) => [p[0], p[1]]));
          return xs.map((x) => byIter.get(x) ?? null);
        });
        const svgUrl = chartUrl(runId, key, runIds);
        const file = `${(detail.name || `run-${runId}`).replace(/[^\w.-]+/g, '_')}-${key.replace(/[^\w.-]+/g, '_')}`;
        const box = h('div', { class: 'chart', 'data-key': key },
            h('div', { class: 'chart-head' }, h('h3', null, key),
                h('span', { class: 'chart-save' }, 'save ',
                    h('a', { href: svgUrl, download: `${file}.svg`, class: 'save-svg' }, 'SVG'), ' ',
                    h('button', { type: 'button', class: 'save-png link',
                      onclick: () => savePng(svgUrl, `${file}.png`) }, 'PNG'))));
        chartsBox.appendChild(box);
        if (xs.length === 0) {
          box.appendChild(h('p', { class: 'empty' }, 'No points.'));
          continue;
        }
        const chart = new uPlot({
          width, height: 220,
          scales: { x: { time: false } },
          cursor: { drag: { x: true, y: false } },
          // The visible x range, for people reading the DOM and for the browser tests.
          hooks: { setScale: [(u: uPlot, scale: string) => {
            if (scale !== 'x') return;
            box.dataset.xmin = String(u.scales.x.min);
            box.dataset.xmax = String(u.scales.x.max);
          }] },
          // Iterations are integers: integer steps only. Labels as drawn are kept on the box
          // (data-xticks / data-yticks) for people reading the DOM and for the browser tests.
          axes: [
            { label: 'iteration', incrs: INTEGER_STEPS, values: (_u: uPlot, splits: number[]) =>
              keep(box, 'xticks', tickLabels(splits)) },
            { values: (_u: uPlot, splits: number[]) => keep(box, 'yticks', tickLabels(splits)), size: 60 },
          ],
          series: [{ label: 'iter' }, ...runIds.map((id, i) => ({
            label: names.get(id) ?? `run ${id}`, stroke: runColor(i, id), width: 2,
            spanGaps: true, points: { show: xs.length < 60 },
            value: (_u: uPlot, v: number | null) => fmtNumber(v, 4),
          }))],
        }, [xs, ...ys] as uPlot.AlignedData, box);
        box.dataset.xmin = String(chart.scales.x.min);
        box.dataset.xmax = String(chart.scales.x.max);
        charts.push(chart);
      }
    } catch (err) {
      if (!isAbort(err)) replaceChildren(chartsBox, errorBox(err));
    }
  };

  const drawPicker = () => {
    const filter = h('input', { type: 'search', placeholder: 'Filter keys', 'aria-label': 'Filter metric keys' });
    const list = h('div', { class: 'keys', id: 'metric-keys' });
    const shown = () => {
      const words = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
      return detail.metric_keys.filter((k) => words.every((w) => k.toLowerCase().includes(w)));
    };
    // All / none act on the keys the filter shows.
    const pick = (on: boolean) => {
      const keys = shown();
      selected = on ? [...selected, ...keys.filter((k) => !selected.includes(k))]
                    : selected.filter((k) => !keys.includes(k));
      saveQuery();
      fill();
      drawCharts();
    };
    const actions = h('div', { class: 'key-actions' },
        h('button', { type: 'button', id: 'keys-all', onclick: () => pick(true) }, 'All shown'),
        h('button', { type: 'button', id: 'keys-none', onclick: () => pick(false) }, 'None'));
    const fill = () => {
      replaceChildren(list, shown()
          .map((key) => {
            const box = h('input', { type: 'checkbox', value: key, checked: selected.includes(key) });
            box.addEventListener('change', () => {
              selected = box.checked ? [...selected, key] : selected.filter((k) => k !== key);
              saveQuery();
              drawCharts();
            });
            return h('label', { title: key }, box, h('span', null, key));
          }));
    };
    filter.addEventListener('input', fill);
    fill();
    const compareList = h('div', { class: 'keys', id: 'compare-runs' }, others
        .filter((r) => r.id !== runId)
        .map((r) => {
          const box = h('input', { type: 'checkbox', value: r.id, checked: compare.includes(r.id) });
          box.addEventListener('change', () => {
            compare = box.checked ? [...compare, r.id] : compare.filter((id) => id !== r.id);
            saveQuery();
            drawCharts();
          });
          return h('label', null, box, ' ', r.name || `run ${r.id}`, h('span', { class: 'muted' },
              ` #${r.id} ${r.method}`));
        }));
    replaceChildren(picker,
        h('details', { open: true }, h('summary', null, `Metric keys (${detail.metric_keys.length})`),
            filter, actions, list),
        h('details', { open: compare.length > 0 }, h('summary', null, 'Overlay other runs'),
            others.length > 1 ? compareList : h('p', { class: 'muted' }, 'No other runs.')),
        h('p', { class: 'muted hint' }, 'Drag across a chart to zoom, double-click to reset.'));
  };

  const drawHeader = () => {
    const d = detail;
    replaceChildren(header,
        h('h1', null, d.name || `run ${d.id}`, ' ', statusBadge(d.status)),
        facts([['env', d.env], ['method', d.method], ['seed', d.seed],
          ['started', fmtTime(d.created_at)], ['finished', fmtTime(d.finished_at)],
          ['iterations', d.iterations.length],
          ['episodes', link(`/episodes?run=${d.id}`, d.episodes.toLocaleString())],
          ['turns', d.turns.toLocaleString()]]),
        d.notes ? h('p', { class: 'notes' }, d.notes) : null);
  };

  const drawLower = () => {
    const d = detail;
    const latest = Object.entries(d.latest_metrics);
    replaceChildren(lower,
        h('h2', null, 'Latest metrics'),
        latest.length ? h('table', { class: 'grid compact' }, h('tbody', null, latest.map(([k, v]) =>
            h('tr', null, h('td', null, k), h('td', { class: 'num' }, fmtNumber(v, 4))))))
            : h('p', { class: 'muted' }, 'None yet.'),
        h('h2', null, 'Config'),
        h('div', { id: 'run-config' }, jsonBlock(d.config)),
        h('h2', null, `Checkpoints (${d.checkpoints.length})`),
        d.checkpoints.length ? h('table', { class: 'grid compact' },
            h('thead', null, h('tr', null, h('th', null, 'iter'), h('th', null, 'path'), h('th', null, 'saved'))),
            h('tbody', null, d.checkpoints.map((c) => h('tr', null, h('td', { class: 'num' }, c.iter),
                h('td', null, h('code', null, c.path)), h('td', null, fmtTime(c.created_at))))))
            : h('p', { class: 'muted' }, 'None.'),
        h('h2', null, `Iterations (${d.iterations.length})`),
        h('details', null, h('summary', null, 'Summaries'),
            h('table', { class: 'grid compact' }, h('tbody', null, d.iterations.map((it) =>
                h('tr', null, h('td', { class: 'num' }, it.iter), h('td', null, fmtTime(it.started_at)),
                    h('td', null, h('code', null, JSON.stringify(it.summary)))))))));
  };

  const load = async (first: boolean) => {
    try {
      const [d, runs] = await Promise.all([api.run(runId, controller.signal), api.runs(controller.signal)]);
      detail = d;
      others = runs;
      if (first) {
        const fromUrl = (query.get('keys') ?? '').split(',').filter((k) => d.metric_keys.includes(k));
        selected = fromUrl.length ? fromUrl : defaultKeys(d.metric_keys);
        replaceChildren(root, header, h('div', { class: 'run-layout' }, picker, chartsBox), lower);
      }
      drawHeader();
      drawPicker();
      drawLower();
      await drawCharts();
      if (first && d.status === 'running') close = subscribe(runId, refresh);
    } catch (err) {
      if (!isAbort(err)) replaceChildren(root, errorBox(err), link('/', 'Back to the runs'));
    }
  };
  const refresh = debounce(() => load(false), 300);
  const onResize = debounce(() => {
    const width = Math.max(320, Math.min(640, chartsBox.clientWidth - 16));
    charts.forEach((c) => c.setSize({ width, height: 220 }));
  }, 150);
  window.addEventListener('resize', onResize);
  load(true);
  return () => {
    controller.abort();
    close?.();
    window.removeEventListener('resize', onResize);
    charts.forEach((c) => c.destroy());
  };
}
