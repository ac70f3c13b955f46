// Client-side navigation shared by the pages (main.ts installs the renderer).

let renderer: () => void = () => {};

export function setRenderer(fn: () => void): void {
  renderer = fn;
}

export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  renderer();
  if (!replace) window.scrollTo(0, 0);
}

// Updates the query string without rendering again (the page already shows the new state).
export function setQuery(params: URLSearchParams): void {
  const qs = params.toString();
  history.replaceState(null, '', location.pathname + (qs ? `?${qs}` : ''));
}

export type Cleanup = () => void;
export type Page = (root: HTMLElement, params: string[], query: URLSearchParams) => Cleanup | void;
