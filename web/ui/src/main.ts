// The single-page app: a router over the History API. The server answers index.html for every
// non-API path, so each page has a real URL that can be bookmarked, reloaded and opened in a
// new tab.
import './style.css';
import 'uplot/dist/uPlot.min.css';
import { h, link, replaceChildren } from './dom';
import { runsPage } from './pages/runs';
import { runPage } from './pages/run';
import { episodesPage } from './pages/episodes';
import { replayPage } from './pages/replay';
import { groupPage } from './pages/group';
import { envsPage } from './pages/envs';
import { methodsPage } from './pages/methods';
import { type Cleanup, type Page, navigate, setRenderer } from './router';

const routes: [RegExp, Page, string][] = [
  [/^\/$/, runsPage, 'runs'],
  [/^\/runs\/?$/, runsPage, 'runs'],
  [/^\/runs\/(\d+)\/?$/, runPage, 'runs'],
  [/^\/runs\/(\d+)\/groups\/([^/]+)\/?$/, groupPage, 'episodes'],
  [/^\/episodes\/?$/, episodesPage, 'episodes'],
  [/^\/episodes\/(\d+)\/?$/, replayPage, 'episodes'],
  [/^\/envs\/?$/, envsPage, 'envs'],
  [/^\/methods\/?$/, methodsPage, 'methods'],
];

let cleanup: Cleanup | void;

function renderNav(section: string): void {
  const nav = document.getElementById('nav')!;
  const item = (path: string, label: string, name: string) =>
    h('li', { class: section === name ? 'active' : '' }, link(path, label));
  replaceChildren(nav,
      link('/', h('span', { class: 'brand' }, 'Turnwise')),
      h('ul', null, item('/', 'Runs', 'runs'), item('/episodes', 'Episodes', 'episodes'),
          item('/envs', 'Environments', 'envs'), item('/methods', 'Methods', 'methods')),
      h('span', { id: 'live-dot', class: 'live', title: 'not live' }));
}

function render(): void {
  if (cleanup) cleanup();
  cleanup = undefined;
  const root = document.getElementById('app')!;
  replaceChildren(root);
  const path = location.pathname;
  const query = new URLSearchParams(location.search);
  for (const [pattern, page, section] of routes) {
    const m = pattern.exec(path);
    if (!m) continue;
    renderNav(section);
    cleanup = page(root, m.slice(1).map(decodeURIComponent), query);
    return;
  }
  renderNav('');
  replaceChildren(root, h('h1', null, 'Not found'), h('p', null, 'No page at ', h('code', null, path)),
      link('/', 'Back to the runs'));
}


document.addEventListener('click', (ev) => {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) {
    return;
  }
  const a = (ev.target as Element | null)?.closest?.('a[data-link]') as HTMLAnchorElement | null;
  if (!a) return;
  ev.preventDefault();
  navigate(a.getAttribute('href')!);
});
window.addEventListener('popstate', render);
setRenderer(render);
render();
