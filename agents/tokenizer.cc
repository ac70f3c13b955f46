#include "agents/tokenizer.h"

#include <array>
#include <deque>
#include <filesystem>
#include <fstream>
#include <unordered_map>
#include <utility>

#include "agents/internal/added_tokens.h"
#include "agents/internal/bpe.h"
#include "agents/internal/byte_level.h"
#include "agents/internal/pretokenize.h"
#include "agents/internal/unicode.h"
#include "agents/internal/unicode_tables.h"
#include "agents/internal/word_cache.h"
#include "core/error.h"

namespace turnwise {

using tokenizer_internal::AddedTokenTrie;
using tokenizer_internal::PatternKind;

std::string_view PreTokenizerPatternSource(PreTokenizerPattern pattern) {
  return pattern == PreTokenizerPattern::kGpt2 ? tokenizer_internal::kGpt2PatternSource
                                               : tokenizer_internal::kQwen2PatternSource;
}

std::string_view TokenizerUnicodeVersion() { return tokenizer_internal::kUnicodeVersion; }

namespace {

constexpr size_t kWordCacheCapacity = 1 << 15;

// One pre-tokenizer step, applied to every piece the previous steps produced.
struct PreTokenizerStep {
  bool byte_level = false;        // the final ByteLevel step
  bool add_prefix_space = false;  // ByteLevel only
  bool split = false;             // Split, or ByteLevel with use_regex
  PatternKind pattern = PatternKind::kGpt2;
};

// Builds error messages "<source>: <json path>: <problem>".
class Errors {
 public:
  explicit Errors(std::string_view source) : source_(source) {}
  [[noreturn]] void Fail(std::string_view path, const std::string& message) const {
    throw InvalidArgument(source_ + ": " + std::string(path) + ": " + message);
  }
  const Json& Field(const Json& object, std::string_view path, const char* key) const {
    if (!object.is_object()) Fail(path, "expected an object, got " + JsonTypeName(object));
    auto it = object.find(key);
    if (it == object.end()) Fail(std::string(path) + "." + key, "missing");
    return *it;
  }
  bool Bool(const Json& object, std::string_view path, const char* key, bool fallback) const {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) {
      Fail(std::string(path) + "." + key, "expected a boolean, got " + JsonTypeName(*it));
    }
    return it->get<bool>();
  }
  std::string String(const Json& value, std::string_view path) const {
    if (!value.is_string()) Fail(path, "expected a string, got " + JsonTypeName(value));
    return value.get<std::string>();
  }
  std::string Type(const Json& component, std::string_view path) const {
    return String(Field(component, path, "type"), std::string(path) + ".type");
  }

 private:
  std::string source_;
};

bool IsWordChar(uint32_t cp) {
  return cp == '_' || (tokenizer_internal::CharFlags(cp) &
                       (tokenizer_internal::kLetter | tokenizer_internal::kNumber));
}

// The code point that ends at byte `end` (end > 0), and its start.
uint32_t CodePointBefore(std::string_view text, size_t end, size_t* start) {
  size_t s = end - 1;
  while (s > 0 && end - s < 4 && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
  size_t len;
  uint32_t cp = tokenizer_internal::DecodeUtf8(text, s, &len);
  if (s + len != end) {  // not a well-formed sequence ending here: one invalid byte
    *start = end - 1;
    return tokenizer_internal::kInvalidByteBase + static_cast<unsigned char>(text[end - 1]);
  }
  *start = s;
  return cp;
}

bool IsWhiteSpace(uint32_t cp) {
  return tokenizer_internal::CharFlags(cp) & tokenizer_internal::kWhiteSpace;
}

}  // namespace

struct Tokenizer::Impl {
  std::string source;

  // Model.
  std::vector<std::string> id_to_token;  // byte-level string or added content; "" = no token
  std::vector<std::string> id_bytes;     // what each id decodes to
  std::vector<bool> in_vocab;            // listed in model.vocab
  std::unordered_map<int32_t, int32_t> added_of_id;  // id -> index in `added`
  std::unordered_map<std::string, int32_t> token_to_id;
  std::unordered_map<std::string, int32_t> raw_bytes_to_vocab_id;  // for ignore_merges
  std::array<int32_t, 256> byte_ids;
  tokenizer_internal::MergeTable merges;
  std::vector<std::pair<int32_t, int32_t>> merge_list;  // by rank, for saving
  std::optional<std::string> unk_token;
  std::optional<int32_t> unk_id;
  bool ignore_merges = false;

  std::vector<AddedTokenInfo> added;
  AddedTokenTrie raw_trie;         // added tokens with normalized == false
  AddedTokenTrie normalized_trie;  // added tokens with normalized == true

  bool nfc = false;
  std::vector<PreTokenizerStep> steps;
  bool needs_prefix_storage = false;
  Json normalizer_json, pre_tokenizer_json, post_processor_json, decoder_json;

  tokenizer_internal::WordCache cache{kWordCacheCapacity};

  // Encoding, from the outside in.
  void EncodeRaw(std::string_view text, bool match_added, std::vector<int32_t>* ids) const;
  void EncodeNormalized(std::string_view text, bool match_added, std::vector<int32_t>* ids) const;
  void EncodePreTokenized(std::string_view text, std::vector<int32_t>* ids) const;
  void EncodeWord(std::string_view word, std::vector<int32_t>* ids) const;
  // Splits `text` around added tokens of `trie`; calls on_text(piece) / on_token(id) in order.
  template <typename OnText>
  void SplitAdded(const AddedTokenTrie& trie, std::string_view text, OnText on_text,
                  std::vector<int32_t>* ids) const;
};

template <typename OnText>
void Tokenizer::Impl::SplitAdded(const AddedTokenTrie& trie, std::string_view text, OnText on_text,
                                 std::vector<int32_t>* ids) const {
  size_t text_begin = 0;  // start of the text not yet emitted
  size_t pos = 0;
  while (pos < text.size()) {
    AddedTokenTrie::Match m;
    if (!trie.MayStartWith(static_cast<unsigned char>(text[pos])) ||
        !trie.LongestAt(text, pos, &m)) {
      ++pos;
      continue;
    }
    const AddedTokenInfo& token = added[m.index];
    size_t begin = m.begin, end = m.end;
    if (token.single_word) {
      size_t unused;
      size_t len;
      const bool word_before = begin > 0 && IsWordChar(CodePointBefore(text, begin, &unused));
      const bool word_after =
          end < text.size() && IsWordChar(tokenizer_internal::DecodeUtf8(text, end, &len));
      if (word_before || word_after) {
        ++pos;
        continue;
      }
    }
    if (token.lstrip) {
      size_t start;
      while (begin > text_begin && IsWhiteSpace(CodePointBefore(text, begin, &start))) {
        begin = start;
      }
    }
    if (token.rstrip) {
      size_t len;
      while (end < text.size() && IsWhiteSpace(tokenizer_internal::DecodeUtf8(text, end, &len))) {
        end += len;
      }
    }
    if (begin > text_begin) on_text(text.substr(text_begin, begin - text_begin));
    ids->push_back(token.id);
    text_begin = pos = end;
  }
  if (text_begin < text.size()) on_text(text.substr(text_begin));
}

void Tokenizer::Impl::EncodeRaw(std::string_view text, bool match_added,
                                std::vector<int32_t>* ids) const {
  if (!match_added || raw_trie.empty()) {
    EncodeNormalized(text, match_added, ids);
    return;
  }
  SplitAdded(
      raw_trie, text, [&](std::string_view piece) { EncodeNormalized(piece, match_added, ids); },
      ids);
}

void Tokenizer::Impl::EncodeNormalized(std::string_view text, bool match_added,
                                       std::vector<int32_t>* ids) const {
  std::string normalized;
  if (nfc && tokenizer_internal::ToNfc(text, &normalized)) text = normalized;
  if (!match_added || normalized_trie.empty()) {
    EncodePreTokenized(text, ids);
    return;
  }
  SplitAdded(
      normalized_trie, text, [&](std::string_view piece) { EncodePreTokenized(piece, ids); }, ids);
}

void Tokenizer::Impl::EncodePreTokenized(std::string_view text, std::vector<int32_t>* ids) const {
  if (text.empty()) return;
  thread_local std::vector<std::pair<size_t, size_t>> spans;
  std::vector<std::string_view> pieces{text};
  std::vector<std::string_view> next_pieces;
  std::deque<std::string> storage;  // pieces that got a prefix space
  for (const PreTokenizerStep& step : steps) {
    next_pieces.clear();
    for (std::string_view piece : pieces) {
      if (step.add_prefix_space && (piece.empty() || piece[0] != ' ')) {
        storage.push_back(" " + std::string(piece));
        piece = storage.back();
      }
      if (!step.split) {
        next_pieces.push_back(piece);
        continue;
      }
      spans.clear();
      tokenizer_internal::SplitByPattern(step.pattern, piece, &spans);
      for (const auto& [b, e] : spans) next_pieces.push_back(piece.substr(b, e - b));
    }
    pieces.swap(next_pieces);
  }
  for (std::string_view piece : pieces) EncodeWord(piece, ids);
}

void Tokenizer::Impl::EncodeWord(std::string_view word, std::vector<int32_t>* ids) const {
  if (word.empty()) return;
  if (word.size() == 1) {
    const int32_t id = byte_ids[static_cast<unsigned char>(word[0])];
    if (id >= 0) {
      ids->push_back(id);
    } else if (unk_id) {
      ids->push_back(*unk_id);
    }
    return;
  }
  if (ignore_merges) {
    auto it = raw_bytes_to_vocab_id.find(std::string(word));
    if (it != raw_bytes_to_vocab_id.end()) {
      ids->push_back(it->second);
      return;
    }
  }
  if (cache.Lookup(word, ids)) return;
  thread_local std::vector<int32_t> symbols;
  symbols.clear();
  for (char c : word) {
    // A byte without a token becomes unk when the model has one and is dropped otherwise
    // (the Rust BPE model's behaviour); byte-level vocabularies have all 256.
    const int32_t id = byte_ids[static_cast<unsigned char>(c)];
    if (id >= 0) {
      symbols.push_back(id);
    } else if (unk_id) {
      symbols.push_back(*unk_id);
    }
  }
  merges.Apply(&symbols);
  cache.Insert(word, symbols.data(), symbols.size());
  ids->insert(ids->end(), symbols.begin(), symbols.end());
}

// ---------------------------------------------------------------------------------------------
// Loading.

namespace {

void ParseNormalizer(const Errors& errors, const Json& n, std::string_view path, bool* nfc) {
  if (n.is_null()) return;
  const std::string type = errors.Type(n, path);
  if (type == "NFC") {
    *nfc = true;
  } else if (type == "Sequence") {
    const Json& list = errors.Field(n, path, "normalizers");
    if (!list.is_array()) errors.Fail(std::string(path) + ".normalizers", "expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      ParseNormalizer(errors, list[i],
                      std::string(path) + ".normalizers[" + std::to_string(i) + "]", nfc);
    }
  } else {
    errors.Fail(path, "normalizer type '" + type +
                          "' is not supported (supported: null, NFC, Sequence of those)");
  }
}

void ParsePreTokenizer(const Errors& errors, const Json& p, const std::string& path,
                       std::vector<PreTokenizerStep>* steps) {
  const std::string type = errors.Type(p, path);
  if (type == "Sequence") {
    const Json& list = errors.Field(p, path, "pretokenizers");
    if (!list.is_array()) errors.Fail(path + ".pretokenizers", "expected an array");
    for (size_t i = 0; i < list.size(); ++i) {
      ParsePreTokenizer(errors, list[i], path + ".pretokenizers[" + std::to_string(i) + "]", steps);
    }
  } else if (type == "ByteLevel") {
    PreTokenizerStep step;
    step.byte_level = true;
    step.add_prefix_space = errors.Bool(p, path, "add_prefix_space", false);
    step.split = errors.Bool(p, path, "use_regex", true);
    step.pattern = PatternKind::kGpt2;
    steps->push_back(step);
  } else if (type == "Split") {
    const Json& pattern = errors.Field(p, path, "pattern");
    if (!pattern.is_object() || !pattern.contains("Regex")) {
      errors.Fail(path + ".pattern", "only {\"Regex\": ...} patterns are supported");
    }
    const std::string regex = errors.String(pattern["Regex"], path + ".pattern.Regex");
    PreTokenizerStep step;
    step.split = true;
    if (regex == tokenizer_internal::kGpt2PatternSource) {
      step.pattern = PatternKind::kGpt2;
    } else if (regex == tokenizer_internal::kQwen2PatternSource) {
      step.pattern = PatternKind::kQwen2;
    } else {
      errors.Fail(path + ".pattern.Regex",
                  "unsupported split regex '" + regex +
                      "'; supported are the GPT-2 and the Qwen2/Llama-3 patterns");
    }
    const Json& behavior = errors.Field(p, path, "behavior");
    if (errors.String(behavior, path + ".behavior") != "Isolated") {
      errors.Fail(path + ".behavior", "split behavior '" + behavior.get<std::string>() +
                                          "' is not supported (only Isolated)");
    }
    if (errors.Bool(p, path, "invert", false)) errors.Fail(path + ".invert", "must be false");
    steps->push_back(step);
  } else {
    errors.Fail(path, "pre_tokenizer type '" + type +
                          "' is not supported (supported: ByteLevel, Split, Sequence)");
  }
}

}  // namespace

Tokenizer Tokenizer::FromFile(const std::string& path) {
  // A checkpoint folder names its tokenizer.json, as Hugging Face's from_pretrained accepts.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec) &&
      std::filesystem::exists(std::filesystem::path(path) / "tokenizer.json", ec)) {
    return FromFile((std::filesystem::path(path) / "tokenizer.json").string());
  }
  return FromJson(ReadJsonFile(path), path);
}

Tokenizer Tokenizer::FromJson(const Json& doc, std::string_view source) {
  auto impl = std::make_unique<Impl>();
  Impl& t = *impl;
  t.source = std::string(source);
  const Errors errors(source);
  try {
    if (!doc.is_object()) errors.Fail("(root)", "expected an object, got " + JsonTypeName(doc));

    // model
    const Json& model = errors.Field(doc, "(root)", "model");
    if (!model.is_object()) errors.Fail("model", "expected an object");
    if (model.contains("type")) {
      const std::string type = errors.String(model["type"], "model.type");
      if (type != "BPE") {
        errors.Fail("model.type",
                    "model type '" + type + "' is not supported; only byte-level 'BPE' is");
      }
    }
    if (model.contains("dropout") && !model["dropout"].is_null() &&
        !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0)) {
      errors.Fail("model.dropout", "BPE dropout is not supported");
    }
    if (errors.Bool(model, "model", "byte_fallback", false)) {
      errors.Fail("model.byte_fallback", "byte_fallback is not supported (byte-level BPE only)");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (model.contains(key) && !model[key].is_null() &&
          !(model[key].is_string() && model[key].get<std::string>().empty())) {
        errors.Fail(std::string("model.") + key, "subword affixes are not supported");
      }
    }
    t.ignore_merges = errors.Bool(model, "model", "ignore_merges", false);

    const Json& vocab = errors.Field(model, "model", "vocab");
    if (!vocab.is_object()) errors.Fail("model.vocab", "expected an object of token -> id");
    int32_t max_id = -1;
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
          it.value().get<int64_t>() > INT32_MAX) {
        errors.Fail("model.vocab[\"" + it.key() + "\"]", "expected a non-negative integer id");
      }
      max_id = std::max(max_id, static_cast<int32_t>(it.value().get<int64_t>()));
    }
    const Json& added_json = doc.contains("added_tokens") ? doc["added_tokens"] : Json::array();
    if (!added_json.is_array()) errors.Fail("added_tokens", "expected an array");
    for (size_t i = 0; i < added_json.size(); ++i) {
      const std::string path = "added_tokens[" + std::to_string(i) + "]";
      const Json& id = errors.Field(added_json[i], path, "id");
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        errors.Fail(path + ".id", "expected a non-negative integer id");
      }
      max_id = std::max(max_id, static_cast<int32_t>(id.get<int64_t>()));
    }
    const size_t size = static_cast<size_t>(max_id + 1);
    t.id_to_token.assign(size, "");
    t.id_bytes.assign(size, "");
    t.in_vocab.assign(size, false);
    t.token_to_id.reserve(vocab.size() + added_json.size());
    t.raw_bytes_to_vocab_id.reserve(vocab.size());
    t.byte_ids.fill(-1);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      const auto id = static_cast<int32_t>(it.value().get<int64_t>());
      if (t.in_vocab[id]) {
        errors.Fail("model.vocab[\"" + it.key() + "\"]",
                    "id " + std::to_string(id) + " is also used by '" + t.id_to_token[id] + "'");
      }
      t.in_vocab[id] = true;
      t.id_to_token[id] = it.key();
      t.token_to_id.emplace(it.key(), id);
      std::optional<std::string> bytes = tokenizer_internal::ByteLevelToBytes(it.key());
      // A token outside the byte alphabet decodes to its own UTF-8 (as the HF decoder does).
      t.id_bytes[id] = bytes ? *bytes : it.key();
      if (bytes) {
        t.raw_bytes_to_vocab_id.emplace(*bytes, id);
        if (bytes->size() == 1) t.byte_ids[static_cast<unsigned char>((*bytes)[0])] = id;
      }
    }

    const Json& merges = errors.Field(model, "model", "merges");
    if (!merges.is_array()) errors.Fail("model.merges", "expected an array");
    t.merge_list.reserve(merges.size());
    for (size_t i = 0; i < merges.size(); ++i) {
      const std::string path = "model.merges[" + std::to_string(i) + "]";
      std::string left, right;
      const Json& m = merges[i];
      if (m.is_string()) {
        const std::string s = m.get<std::string>();
        const size_t space = s.find(' ');
        if (space == std::string::npos || s.find(' ', space + 1) != std::string::npos) {
          errors.Fail(path, "expected \"left right\" with exactly one space, got '" + s + "'");
        }
        left = s.substr(0, space);
        right = s.substr(space + 1);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        left = m[0].get<std::string>();
        right = m[1].get<std::string>();
      } else {
        errors.Fail(path, "expected \"left right\" or [\"left\", \"right\"]");
      }
      auto l = t.token_to_id.find(left), r = t.token_to_id.find(right);
      if (l == t.token_to_id.end()) errors.Fail(path, "token '" + left + "' is not in the vocab");
      if (r == t.token_to_id.end()) errors.Fail(path, "token '" + right + "' is not in the vocab");
      auto merged = t.token_to_id.find(left + right);
      if (merged == t.token_to_id.end()) {
        errors.Fail(path, "merged token '" + left + right + "' is not in the vocab");
      }
      t.merges.Add(l->second, r->second, static_cast<int32_t>(i), merged->second);
      t.merge_list.emplace_back(l->second, r->second);
    }

    if (model.contains("unk_token") && !model["unk_token"].is_null()) {
      t.unk_token = errors.String(model["unk_token"], "model.unk_token");
      auto it = t.token_to_id.find(*t.unk_token);
      if (it != t.token_to_id.end()) t.unk_id = it->second;
    }

    t.normalizer_json = doc.contains("normalizer") ? doc["normalizer"] : Json();
    ParseNormalizer(errors, t.normalizer_json, "normalizer", &t.nfc);

    // added_tokens
    for (size_t i = 0; i < added_json.size(); ++i) {
      const std::string path = "added_tokens[" + std::to_string(i) + "]";
      const Json& a = added_json[i];
      AddedTokenInfo info;
      info.id = static_cast<int32_t>(a["id"].get<int64_t>());
      info.content = errors.String(errors.Field(a, path, "content"), path + ".content");
      if (info.content.empty()) errors.Fail(path + ".content", "must not be empty");
      info.special = errors.Bool(a, path, "special", false);
      info.single_word = errors.Bool(a, path, "single_word", false);
      info.lstrip = errors.Bool(a, path, "lstrip", false);
      info.rstrip = errors.Bool(a, path, "rstrip", false);
      info.normalized = errors.Bool(a, path, "normalized", !info.special);
      const auto index = static_cast<int32_t>(t.added.size());
      if (!t.in_vocab[info.id]) t.id_to_token[info.id] = info.content;
      t.id_bytes[info.id] = info.content;
      t.token_to_id[info.content] = info.id;
      t.added_of_id[info.id] = index;
      t.raw_trie.Add(info.content, index);
      if (info.normalized) {
        // Also matched after normalization, in its normalized form.
        std::string normalized = info.content;
        std::string nfc;
        if (t.nfc && tokenizer_internal::ToNfc(info.content, &nfc)) {
          normalized = nfc;
        }
        t.normalized_trie.Add(normalized, index);
      }
      t.added.push_back(std::move(info));
    }

    // pre_tokenizer, post_processor, decoder

    t.pre_tokenizer_json = doc.contains("pre_tokenizer") ? doc["pre_tokenizer"] : Json();
    if (t.pre_tokenizer_json.is_null()) {
      errors.Fail("pre_tokenizer", "missing; byte-level BPE needs a ByteLevel pre_tokenizer");
    }
    ParsePreTokenizer(errors, t.pre_tokenizer_json, "pre_tokenizer", &t.steps);
    if (t.steps.empty() || !t.steps.back().byte_level) {
      errors.Fail("pre_tokenizer",
                  "must end with a ByteLevel step (only byte-level BPE is "
                  "supported)");
    }
    for (size_t i = 0; i + 1 < t.steps.size(); ++i) {
      if (t.steps[i].byte_level) {
        errors.Fail("pre_tokenizer", "ByteLevel must be the last pre-tokenizer step");
      }
    }

    t.post_processor_json = doc.contains("post_processor") ? doc["post_processor"] : Json();
    if (!t.post_processor_json.is_null()) {
      const std::string type = errors.Type(t.post_processor_json, "post_processor");
      if (type != "ByteLevel") {
        errors.Fail("post_processor", "post_processor type '" + type +
                                          "' is not supported (supported: null, ByteLevel)");
      }
    }
    t.decoder_json = doc.contains("decoder") ? doc["decoder"] : Json();
    if (t.decoder_json.is_null()) {
      errors.Fail("decoder", "missing; byte-level BPE needs a ByteLevel decoder");
    }
    const std::string decoder_type = errors.Type(t.decoder_json, "decoder");
    if (decoder_type != "ByteLevel") {
      errors.Fail("decoder",
                  "decoder type '" + decoder_type + "' is not supported (only ByteLevel)");
    }
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgument(std::string(source) + ": " + e.what());
  }
  return Tokenizer(std::move(impl));
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

// ---------------------------------------------------------------------------------------------
// Public operations.

std::vector<int32_t> Tokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  EncodeAppend(text, &ids, options);
  return ids;
}

void Tokenizer::EncodeAppend(std::string_view text, std::vector<int32_t>* ids,
                             const EncodeOptions& options) const {
  impl_->EncodeRaw(text, options.match_added_tokens, ids);
}

std::string Tokenizer::DecodeBytes(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string out;
  for (int32_t id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= impl_->id_to_token.size() ||
        (!impl_->in_vocab[id] && !impl_->added_of_id.count(id))) {
      throw InvalidArgument("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                            std::to_string(VocabSize()) + ")");
    }
    if (skip_special_tokens && IsSpecialToken(id)) continue;
    out += impl_->id_bytes[id];
  }
  return out;
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return tokenizer_internal::Utf8Lossy(DecodeBytes(ids, skip_special_tokens));
}

std::optional<int32_t> Tokenizer::TokenId(std::string_view token) const {
  auto it = impl_->token_to_id.find(std::string(token));
  if (it == impl_->token_to_id.end()) return std::nullopt;
  return it->second;
}

int32_t Tokenizer::RequireTokenId(std::string_view token) const {
  if (std::optional<int32_t> id = TokenId(token)) return *id;
  throw NotFound(impl_->source + ": token '" + std::string(token) +
                 "' is not in the vocabulary or added tokens");
}

const std::string& Tokenizer::IdToToken(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= impl_->id_to_token.size() ||
      (!impl_->in_vocab[id] && !impl_->added_of_id.count(id))) {
    throw InvalidArgument("token id " + std::to_string(id) + " is not in the vocabulary (size " +
                          std::to_string(VocabSize()) + ")");
  }
  return impl_->id_to_token[id];
}

int32_t Tokenizer::VocabSize() const { return static_cast<int32_t>(impl_->id_to_token.size()); }

const std::vector<AddedTokenInfo>& Tokenizer::AddedTokens() const { return impl_->added; }

bool Tokenizer::IsSpecialToken(int32_t id) const {
  auto it = impl_->added_of_id.find(id);
  return it != impl_->added_of_id.end() && impl_->added[it->second].special;
}

std::optional<PreTokenizerPattern> Tokenizer::Pattern() const {
  for (const PreTokenizerStep& step : impl_->steps) {
    if (step.split) {
      return step.pattern == PatternKind::kGpt2 ? PreTokenizerPattern::kGpt2
                                                : PreTokenizerPattern::kQwen2;
    }
  }
  return std::nullopt;
}

Json Tokenizer::ToJson() const {
  const Impl& t = *impl_;
  Json doc = Json::object();
  doc["version"] = "1.0";
  doc["truncation"] = nullptr;
  doc["padding"] = nullptr;
  Json added = Json::array();
  for (const AddedTokenInfo& a : t.added) {
    added.push_back({{"id", a.id},
                     {"content", a.content},
                     {"single_word", a.single_word},
                     {"lstrip", a.lstrip},
                     {"rstrip", a.rstrip},
                     {"normalized", a.normalized},
                     {"special", a.special}});
  }
  doc["added_tokens"] = std::move(added);
  doc["normalizer"] = t.normalizer_json;
  doc["pre_tokenizer"] = t.pre_tokenizer_json;
  doc["post_processor"] = t.post_processor_json;
  doc["decoder"] = t.decoder_json;
  Json vocab = Json::object();
  for (size_t id = 0; id < t.id_to_token.size(); ++id) {
    if (t.in_vocab[id]) vocab[t.id_to_token[id]] = id;
  }
  Json merges = Json::array();
  for (const auto& [left, right] : t.merge_list) {
    merges.push_back(Json::array({t.id_to_token[left], t.id_to_token[right]}));
  }
  doc["model"] = {{"type", "BPE"},
                  {"dropout", nullptr},
                  {"unk_token", t.unk_token ? Json(*t.unk_token) : Json()},
                  {"continuing_subword_prefix", ""},
                  {"end_of_word_suffix", ""},
                  {"fuse_unk", false},
                  {"byte_fallback", false},
                  {"ignore_merges", t.ignore_merges},
                  {"vocab", std::move(vocab)},
                  {"merges", std::move(merges)}};
  return doc;
}

void Tokenizer::Save(const std::string& path) const {
  const std::string text = DumpJson(ToJson(), 2);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError("cannot write tokenizer to '" + path + "'");
  out << text << '\n';
  out.close();
  if (!out) throw IoError("failed writing tokenizer to '" + path + "'");
}

}  // namespace turnwise
