// Axis tick labels that read true: an integer axis (iterations) gets integer steps only, and
// labels carry as many digits as it takes for neighbours to differ, in exponent form when the
// values are tiny or huge, so 6e-5 never reads "0" and 6.3712 / 6.3714 never both read "6.371".
// The same rules as the SVG charts `turnwise plot` writes (web/svg_chart.h).

// Steps an integer axis may take between ticks.
export const INTEGER_STEPS: number[] = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000,
  10000, 20000, 25000, 50000, 100000, 200000, 500000, 1000000];

function format(v: number, digits: number, exponent: boolean): string {
  if (v === 0 || Object.is(v, -0)) return '0';
  const text = exponent ? v.toExponential(digits).replace('e+', 'e') : v.toFixed(digits);
  return text === '-0' ? '0' : text;
}

// The fewest digits with which every label states its tick's value (to a millionth of the tick
// spacing: 0.25 reads "0.25", never "0.3") and no two labels are the same.
export function tickLabels(values: number[]): string[] {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return values.map(String);
  const largest = Math.max(...finite.map((v) => Math.abs(v)));
  const exponent = largest !== 0 && (largest < 1e-3 || largest >= 1e6);
  let spacing = largest || 1;
  for (let i = 1; i < finite.length; i++) {
    const gap = Math.abs(finite[i] - finite[i - 1]);
    if (gap > 0) spacing = Math.min(spacing, gap);
  }
  for (let digits = 0; digits <= 12; digits++) {
    const labels = values.map((v) => format(v, digits, exponent));
    const exact = values.every((v, i) => !Number.isFinite(v) || Math.abs(Number(labels[i]) - v) <= spacing * 1e-6);
    if (exact && new Set(labels).size === labels.length) return labels;
  }
  return values.map((v) => String(v));
}
