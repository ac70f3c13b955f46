// Live updates from the server's event stream (GET /api/events?run=ID): the callback runs when
// the run's newest episode or iteration changes. The first events after connecting describe the
// current state and are swallowed; only changes after that call back. Each open stream holds a
// server worker, so pages open one per run they show and close it when they leave.

export type LiveKind = 'episodes' | 'iteration';

const indicator = { open: 0 };

function setIndicator(delta: number): void {
  indicator.open += delta;
  const dot = document.getElementById('live-dot');
  if (!dot) return;
  dot.className = indicator.open > 0 ? 'live on' : 'live';
  dot.title = indicator.open > 0 ? 'live: following the run as it is written' : 'not live';
}

export function subscribe(runId: number, onChange: (kind: LiveKind, data: any) => void): () => void {
  const source = new EventSource(`/api/events?run=${runId}`);
  const seen: Record<LiveKind, number | null> = { episodes: null, iteration: null };
  let counted = false;
  source.onopen = () => {
    if (!counted) { counted = true; setIndicator(+1); }
  };
  for (const kind of ['episodes', 'iteration'] as LiveKind[]) {
    source.addEventListener(kind, (ev) => {
      const data = JSON.parse((ev as MessageEvent).data);
      const value = kind === 'episodes' ? data.latest_episode_id : data.latest_iteration;
      const previous = seen[kind];
      seen[kind] = value;
      if (previous !== null && previous !== value) onChange(kind, data);
    });
  }
  return () => {
    source.close();
    if (counted) setIndicator(-1);
  };
}
