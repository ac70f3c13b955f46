// Reading and writing the safetensors format (the Hugging Face weight format), without the
// Python package: an 8-byte little-endian header length N, N bytes of JSON header
//   {"__metadata__": {"format": "pt", ...},
//    "<name>": {"dtype": "F32", "shape": [d0, d1], "data_offsets": [begin, end]}, ...}
// and then the raw little-endian tensor bytes, offsets relative to the end of the header.
//
// Files are memory-mapped read-only: opening a multi-GB checkpoint costs no copy, and tensor
// bytes are read straight from the page cache into their destination (CopyTo) with the dtype
// conversion on the way. Sharded checkpoints (`model.safetensors.index.json` with a
// `weight_map`) are opened as one SafetensorsCheckpoint.
//
// Supported dtypes: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL.
//
// Errors: unreadable files throw IoError naming the path; malformed, truncated or inconsistent
// files (header length past the end of the file, bad JSON, a tensor whose byte range does not
// match its shape and dtype or lies outside the data section, overlapping tensors, unknown
// dtype) throw InvalidArgument naming the path and, where it applies, the tensor.
//
// Thread safety: a SafetensorsFile/SafetensorsCheckpoint is immutable after Open; concurrent
// const calls are fine. Tensors returned by View() alias the mapping and must not outlive it.
#ifndef TURNWISE_AGENTS_SAFETENSORS_H_
#define TURNWISE_AGENTS_SAFETENSORS_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace turnwise {

// One entry of a safetensors header.
struct SafetensorsTensorInfo {
  std::string dtype;           // "F32", "BF16", ...
  std::vector<int64_t> shape;  // empty for a scalar
  uint64_t begin = 0;          // byte offsets into the data section, [begin, end)
  uint64_t end = 0;
};

// One memory-mapped .safetensors file.
class SafetensorsFile {
 public:
  // Maps and validates `path`. Throws IoError / InvalidArgument as described above.
  static std::shared_ptr<const SafetensorsFile> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // The header's "__metadata__" (string to string), empty when absent.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::map<std::string, SafetensorsTensorInfo>& tensors() const { return tensors_; }
  bool Contains(const std::string& name) const { return tensors_.count(name) > 0; }

  // A CPU tensor in the file's dtype and shape. Zero-copy view of the mapping when the bytes
  // are suitably aligned (keep this object alive while using it); a private copy otherwise.
  // Throws NotFound naming the tensor and the file when absent.
  at::Tensor View(const std::string& name) const;

  // Copies tensor `name` into `dst` (any device and dtype; converted). Throws NotFound when
  // absent and InvalidArgument "tensor '<name>' in <path> has shape [..], expected [..]" when
  // dst's shape differs.
  void CopyTo(const std::string& name, at::Tensor& dst) const;

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const uint8_t* data_ = nullptr;  // start of the data section
  uint64_t data_size_ = 0;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, SafetensorsTensorInfo> tensors_;
};

// A checkpoint made of one or several safetensors files.
class SafetensorsCheckpoint {
 public:
  // `path` is a .safetensors file, a `*.safetensors.index.json` (sharded; every file named in
  // its weight_map is opened), or a directory holding `model.safetensors` or
  // `model.safetensors.index.json`. Throws IoError / InvalidArgument / NotFound; an index
  // whose weight_map names a tensor its shard lacks is InvalidArgument.
  static SafetensorsCheckpoint Open(const std::string& path);

  // Names of all tensors, sorted.
  std::vector<std::string> Names() const;
  bool Contains(const std::string& name) const { return where_.count(name) > 0; }
  const SafetensorsTensorInfo& Info(const std::string& name) const;
  // The file holding `name`; NotFound when absent.
  const SafetensorsFile& FileOf(const std::string& name) const;
  // Metadata of the first file (or the index's "metadata" for sharded checkpoints, stringified).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // A human-readable description for messages: the file or index path.
  const std::string& description() const { return description_; }

 private:
  std::vector<std::shared_ptr<const SafetensorsFile>> files_;
  std::map<std::string, const SafetensorsFile*> where_;
  std::map<std::string, std::string> metadata_;
  std::string description_;
};

// Writes `tensors` (any device, any supported dtype; written in their own dtype, row-major) to
// `path` with `metadata` as "__metadata__". Names must be unique and non-empty. As the format
// requires, the data section has no holes; tensors are ordered by element size (largest first)
// then name, and the header is space-padded to a multiple of 8, so every tensor is aligned to
// its element size and View() on the result is zero-copy. Writes to "<path>.tmp" and renames, so a
// crash never leaves a half-written file under `path`. Throws InvalidArgument for duplicate names
// or unsupported dtypes, IoError on I/O.
void SaveSafetensors(const std::string& path,
                     const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Hugging Face's default shard limit ("5GB" in save_pretrained; decimal units, as HF uses).
inline constexpr uint64_t kDefaultMaxShardBytes = 5'000'000'000ull;

// Writes `tensors` as the weights of a Hugging Face model directory `dir` (created when needed),
// the way transformers' save_pretrained does:
//   * total size <= max_shard_bytes (or max_shard_bytes == 0): one `model.safetensors`;
//   * otherwise shards `model-00001-of-0000N.safetensors` … and `model.safetensors.index.json`
//     = {"metadata": {"total_size": <bytes of all tensors>}, "weight_map": {name: shard file}}.
// Tensors are assigned to shards in the order given, a new shard starting when the next tensor
// would push the current one past max_shard_bytes; a tensor larger than the limit gets a shard
// of its own. Each file is written atomically (SaveSafetensors); the index is written after its
// shards. Weight files of an earlier save in `dir` that this save does not rewrite
// (model.safetensors, the index, model-*-of-*.safetensors) are removed afterwards, so the
// directory always describes one checkpoint. Returns the file names written (no directory).
// Throws as SaveSafetensors; IoError when `dir` cannot be created.
std::vector<std::string> SaveShardedSafetensors(
    const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    uint64_t max_shard_bytes = kDefaultMaxShardBytes,
    const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// Parses a shard size as HF writes it: "5GB", "500MB", "64KB", "10GiB", "1024" (bytes).
// Units B, KB/MB/GB (powers of 1000) and KiB/MiB/GiB (powers of 1024), case-insensitive.
// Throws InvalidArgument naming the text otherwise.
uint64_t ParseByteSize(const std::string& text);

// "F32" for float32 etc. Throws InvalidArgument for dtypes safetensors cannot hold.
std::string SafetensorsDtypeName(c10::ScalarType type);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_SAFETENSORS_H_
