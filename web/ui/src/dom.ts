// DOM construction without HTML parsing. Every string child becomes a Text node, so text from an
// environment or a model ("<script>", "<img onerror=...>") is always shown literally. The UI
// never assigns innerHTML/outerHTML or calls insertAdjacentHTML; styles are set through the CSSOM
// (element.style), which the server's Content-Security-Policy permits, never style attributes.

export type Child = Node | string | number | null | undefined | false | Child[];
type Listener = (ev: any) => void;
export type Attrs = Record<string, string | number | boolean | null | undefined | Listener>;

// Attributes that could carry code or markup are refused outright, whatever their value.
const FORBIDDEN = new Set(['style', 'srcdoc', 'innerhtml', 'outerhtml']);

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      const lower = key.toLowerCase();
      if (FORBIDDEN.has(lower)) throw new Error(`attribute ${key} is not allowed`);
      if (lower.startsWith('on')) {
        if (typeof value !== 'function') throw new Error(`handler ${key} must be a function`);
        el.addEventListener(lower.slice(2), value as Listener);
        continue;
      }
      if (typeof value === 'function') throw new Error(`attribute ${key} cannot be a function`);
      if ((lower === 'href' || lower === 'src') && !safeUrl(String(value))) {
        throw new Error(`unsafe ${key}`);
      }
      if (key === 'class') el.className = String(value);
      else if (lower === 'title') el.setAttribute(key, visibleCodes(String(value)));
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

// Only same-origin paths and data: images; never javascript: or another origin.
export function safeUrl(url: string): boolean {
  return (url.startsWith('/') && !url.startsWith('//')) || url.startsWith('#') ||
      /^data:image\/(png|jpeg|gif|webp);base64,/.test(url);
}

export function append(el: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else appendText(el, String(child));
  }
}

// Characters that change how text around them is shown without being seen themselves: bidi
// overrides, embeddings and isolates (U+202E shows an abort reason backwards), zero-width
// characters, other C0/C1 controls (tab, newline and carriage return stay). Stored text is shown
// with each of them as a marked glyph naming its code point, so it cannot rearrange what a
// reader sees.
const INVISIBLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F\u00AD\u061C\u180E\u200B-\u200F\u2028-\u202E\u2060-\u206F\uFEFF\uFFF9-\uFFFB]/g;

export function codePointLabel(c: string): string {
  return `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

// For attribute text (tooltips), where no element can mark them: each invisible character as
// "⟨U+202E⟩".
export function visibleCodes(text: string): string {
  return text.replace(INVISIBLE, (c) => `⟨${codePointLabel(c)}⟩`);
}

function appendText(el: Node, text: string): void {
  INVISIBLE.lastIndex = 0;
  let from = 0;
  for (let m = INVISIBLE.exec(text); m; m = INVISIBLE.exec(text)) {
    if (m.index > from) el.appendChild(document.createTextNode(text.slice(from, m.index)));
    const mark = document.createElement('span');
    mark.className = 'ctl';
    mark.title = `invisible character ${codePointLabel(m[0])}`;
    mark.appendChild(document.createTextNode(codePointLabel(m[0])));
    el.appendChild(mark);
    from = m.index + 1;
  }
  if (from < text.length) el.appendChild(document.createTextNode(from === 0 ? text : text.slice(from)));
}

export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

export function replaceChildren(el: Element, ...children: Child[]): void {
  clear(el);
  append(el, children);
}

// An in-app link: plain href for middle-click/open-in-new-tab, routed on the client otherwise.
export function link(path: string, ...children: Child[]): HTMLAnchorElement {
  return h('a', { href: path, 'data-link': true }, ...children);
}

export function fmtNumber(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || Number.isNaN(v)) return '–';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-3)) return v.toExponential(2);
  return String(Number(v.toFixed(digits)));
}

export function fmtPercent(v: number | null | undefined): string {
  return v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`;
}

export function fmtTime(unixSeconds: number): string {
  if (!unixSeconds) return '–';
  const d = new Date(unixSeconds * 1000);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function debounce<A extends unknown[]>(fn: (...args: A) => void, ms: number) {
  let timer: number | undefined;
  return (...args: A) => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => fn(...args), ms);
  };
}

// A stable colour for a key (anchor hashes, run ids): hue from a string hash.
export function hueOf(key: string): number {
  let x = 2166136261;
  for (let i = 0; i < key.length; i++) x = Math.imul(x ^ key.charCodeAt(i), 16777619);
  return (x >>> 0) % 360;
}
