// Environments: the registered environments with their specs.
import { api } from '../api';
import { h, replaceChildren } from '../dom';
import { errorBox, facts, isAbort, jsonBlock, loading } from './common';

export function envsPage(root: HTMLElement) {
  const controller = new AbortController();
  replaceChildren(root, loading());
  api.envs(controller.signal).then((envs) => {
    replaceChildren(root, h('h1', null, 'Environments'),
        h('p', { class: 'muted' }, `${envs.length} registered in this binary`),
        h('div', { class: 'env-list', id: 'env-list' }, envs.map((e) => h('section', { class: 'card env', 'data-env': e.name },
            h('h2', null, e.name, e.version ? h('span', { class: 'muted' }, `  ${e.version}`) : null),
            e.error ? h('p', { class: 'error' }, e.error) : null,
            e.description ? h('p', null, e.description) : null,
            facts([
              ['splits', Object.entries(e.splits ?? {}).map(([s, n]) => `${s} ${n.toLocaleString()}`).join(', ') || '–'],
              ['max turns', e.max_turns ?? '–'],
              ['observations', (e.observation_kinds ?? []).join(', ') || '–'],
              ['protocol', e.protocol ?? '–'],
            ]),
            e.action_format ? h('p', null, h('strong', null, 'Actions: '), e.action_format) : null,
            h('details', null, h('summary', null, 'Spec (JSON)'), jsonBlock(e))))));
  }).catch((err) => {
    if (!isAbort(err)) replaceChildren(root, errorBox(err));
  });
  return () => controller.abort();
}
