// Token shading for the replay: how strongly a generated token is highlighted.
//   log-prob mode: 1 - p, where p = exp(logprob) is the probability the sampler gave the token
//                  (a token the model was unsure of glows);
//   entropy mode:  entropy / scale, where scale is the largest entropy of the turn (at least
//                  1 nat), so the most uncertain position of the turn is the strongest.
// A token without a value (the arrays can be shorter than the ids) is not shaded.

export type ShadeMode = 'logprob' | 'entropy';

export function shadeIntensity(mode: ShadeMode, value: number | null | undefined, scale: number): number | null {
  if (value === null || value === undefined || Number.isNaN(value)) return null;
  if (mode === 'logprob') {
    const p = Math.exp(Math.min(0, value));
    return Math.min(1, Math.max(0, 1 - p));
  }
  return Math.min(1, Math.max(0, value / Math.max(1, scale)));
}

export function entropyScale(entropies: (number | null)[]): number {
  let max = 0;
  for (const e of entropies) if (e !== null && Number.isFinite(e) && e > max) max = e;
  return max;
}

export function shadeColor(intensity: number): string {
  return `rgba(234, 88, 12, ${(0.08 + 0.72 * intensity).toFixed(3)})`;
}

// What a token shows: its text with invisible characters made visible, or its id when the
// tokenizer is unknown to the server.
export function tokenLabel(text: string | null | undefined, id: number): string {
  if (text === null || text === undefined) return `⟨${id}⟩`;
  if (text === '') return '∅';
  return text;
}

export function describeToken(text: string | null | undefined, id: number, logprob: number | null | undefined,
    entropy: number | null | undefined): string {
  const parts = [`token ${text === null || text === undefined ? '(unknown text)' : JSON.stringify(text)}`, `id ${id}`];
  if (logprob !== null && logprob !== undefined) {
    parts.push(`log-prob ${logprob.toFixed(4)} (p = ${Math.exp(logprob).toFixed(4)})`);
  } else {
    parts.push('log-prob n/a');
  }
  parts.push(entropy !== null && entropy !== undefined ? `entropy ${entropy.toFixed(4)}` : 'entropy n/a');
  return parts.join(' · ');
}
