// Pieces shared by the pages.
import { ApiError } from '../api';
import { h } from '../dom';

export function errorBox(err: unknown): HTMLElement {
  if (err instanceof DOMException && err.name === 'AbortError') return h('span');
  const message = err instanceof ApiError ? err.message : String(err);
  const status = err instanceof ApiError ? ` (${err.status})` : '';
  return h('div', { class: 'error', role: 'alert' }, `Error${status}: ${message}`);
}

export function isAbort(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'AbortError';
}

export function loading(): HTMLElement {
  return h('div', { class: 'loading' }, 'Loading…');
}

export function badge(text: string, kind: string): HTMLElement {
  return h('span', { class: `badge ${kind}` }, text);
}

export function successBadge(success: boolean): HTMLElement {
  return success ? badge('success', 'good') : badge('failure', 'bad');
}

export function statusBadge(status: string): HTMLElement {
  const kind = status === 'ok' || status === 'finished' ? 'neutral'
      : status === 'running' ? 'info' : status === 'truncated' ? 'warn' : 'bad';
  return badge(status, kind);
}

export function jsonBlock(value: unknown): HTMLElement {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

// A definition list from label/value pairs.
export function facts(pairs: [string, Node | string | number][]): HTMLElement {
  return h('dl', { class: 'facts' },
      pairs.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))));
}
