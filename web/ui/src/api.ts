// Typed access to the JSON API (docs/web-api.md). Errors carry the server's message.

export interface Run {
  id: number; name: string; status: string; env: string; method: string; seed: number;
  created_at: number; finished_at: number; notes: string;
  episodes: number; turns: number; iterations: number; best_success: number | null;
}

export interface RunDetail extends Omit<Run, 'iterations' | 'best_success'> {
  config: unknown;
  iterations: { iter: number; started_at: number; finished_at: number; summary: unknown }[];
  checkpoints: { iter: number; path: string; created_at: number; metrics: unknown }[];
  metric_keys: string[];
  latest_metrics: Record<string, number>;
}

export interface Episode {
  id: number; run_id: number; iteration: number; group_id: string; env: string; task_id: string;
  task_type: string; seed: number; split: string; status: string; abort_reason: string;
  return: number; success: boolean; num_turns: number; created_at: number; policy: string;
  info: unknown;
}

export interface Turn {
  turn_index: number; observation: string; prompt: string; response: string; action: string;
  action_valid: boolean; reward: number; terminated: boolean; truncated: boolean;
  anchor_key: string; anchor_hash: string; token_ids: number[];
  logprobs: (number | null)[]; entropies: (number | null)[];
  tokens: (string | null)[] | null;
  advantage: number | null; advantage_parts: Record<string, unknown> | null;
  image_ref: string; timings: Record<string, number>; info: unknown;
  anchor_peers?: { episode_id: number; turn_index: number }[];
}

export interface EpisodeDetail extends Episode { turns: Turn[]; token_source: string | null }

export interface EpisodePage { total: number; limit: number; offset: number; episodes: Episode[] }

export interface GroupDetail { run_id: number; group_id: string; episodes: EpisodeDetail[] }

export interface EnvSpec {
  name: string; version?: string; description?: string; splits?: Record<string, number>;
  max_turns?: number; observation_kinds?: string[]; action_format?: string;
  config_defaults?: unknown; protocol?: string; error?: string;
}

export interface MethodPreset {
  name: string; description?: string; comment?: string; algorithm?: unknown; error?: string;
}

export class ApiError extends Error {
  constructor(public status: number, message: string) { super(message); }
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { signal, headers: { Accept: 'application/json' } });
  let body: any = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    throw new ApiError(res.status, body?.error?.message ?? `${res.status} ${res.statusText}`);
  }
  return body as T;
}

export const api = {
  runs: (s?: AbortSignal) => getJson<{ runs: Run[] }>('/api/runs', s).then((r) => r.runs),
  run: (id: number, s?: AbortSignal) => getJson<RunDetail>(`/api/runs/${id}`, s),
  metrics: (id: number, keys: string[], s?: AbortSignal) =>
    getJson<{ series: Record<string, [number, number | null, number][]> }>(
        `/api/runs/${id}/metrics?keys=${encodeURIComponent(keys.join(','))}`, s)
        .then((r) => r.series),
  episodes: (params: URLSearchParams, s?: AbortSignal) =>
    getJson<EpisodePage>(`/api/episodes?${params}`, s),
  episode: (id: number, s?: AbortSignal) => getJson<EpisodeDetail>(`/api/episodes/${id}`, s),
  group: (run: number, group: string, s?: AbortSignal) =>
    getJson<GroupDetail>(`/api/runs/${run}/groups/${encodeURIComponent(group)}`, s),
  envs: (s?: AbortSignal) => getJson<{ envs: EnvSpec[] }>('/api/envs', s).then((r) => r.envs),
  methods: (s?: AbortSignal) =>
    getJson<{ methods: MethodPreset[] }>('/api/methods', s).then((r) => r.methods),
};
