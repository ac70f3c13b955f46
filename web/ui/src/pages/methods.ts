// Methods: the method presets built into this binary (configs/methods), each with its note and
// its algorithm block. Every string goes in as text (dom.ts), never as HTML.
import { api } from '../api';
import { h, replaceChildren } from '../dom';
import { errorBox, isAbort, jsonBlock, loading } from './common';

export function methodsPage(root: HTMLElement) {
  const controller = new AbortController();
  replaceChildren(root, loading());
  api.methods(controller.signal).then((methods) => {
    replaceChildren(root, h('h1', null, 'Methods'),
        h('p', { class: 'muted' }, `${methods.length} presets; use one with "algorithm": {"preset": NAME} `
            + 'or turnwise train --method NAME'),
        h('div', { class: 'method-list', id: 'method-list' }, methods.map((m) => h('section',
            { class: 'card method', 'data-method': m.name },
            h('h2', null, m.name),
            m.error ? h('p', { class: 'error' }, m.error) : null,
            m.description ? h('p', null, m.description) : null,
            m.algorithm !== undefined ? jsonBlock(m.algorithm) : null,
            m.comment ? h('details', null, h('summary', null, 'Notes'), h('pre', { class: 'text' }, m.comment))
                : null))));
  }).catch((err) => {
    if (!isAbort(err)) replaceChildren(root, errorBox(err));
  });
  return () => controller.abort();
}
