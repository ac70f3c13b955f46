#include "agents/safetensors.h"

#include <ATen/core/Tensor.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/error.h"
#include "core/json.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

// The header is JSON text; refuse absurd lengths before allocating (the Rust reader uses 100MB).
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DtypeEntry {
  const char* name;
  c10::ScalarType type;
  size_t size;
};

constexpr DtypeEntry kDtypes[] = {
    {"F64", c10::ScalarType::Double, 8}, {"F32", c10::ScalarType::Float, 4},
    {"F16", c10::ScalarType::Half, 2},   {"BF16", c10::ScalarType::BFloat16, 2},
    {"I64", c10::ScalarType::Long, 8},   {"I32", c10::ScalarType::Int, 4},
    {"I16", c10::ScalarType::Short, 2},  {"I8", c10::ScalarType::Char, 1},
    {"U8", c10::ScalarType::Byte, 1},    {"BOOL", c10::ScalarType::Bool, 1},
};

const DtypeEntry* FindDtype(const std::string& name) {
  for (const auto& e : kDtypes) {
    if (name == e.name) return &e;
  }
  return nullptr;
}

std::string ShapeString(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace

std::string SafetensorsDtypeName(c10::ScalarType type) {
  for (const auto& e : kDtypes) {
    if (e.type == type) return e.name;
  }
  throw InvalidArgument(std::string("safetensors cannot store dtype ") + c10::toString(type));
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open safetensors file '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    throw IoError("cannot stat '" + path + "': " + std::strerror(err));
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    throw InvalidArgument("safetensors file '" + path +
                          "' is truncated: " + std::to_string(file_size) +
                          " bytes, fewer than the 8-byte header length");
  }
  void* map = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  int map_err = errno;
  ::close(fd);  // the mapping keeps the file referenced
  if (map == MAP_FAILED) throw IoError("cannot mmap '" + path + "': " + std::strerror(map_err));
  file->map_ = map;
  file->map_size_ = file_size;
  const auto* bytes = static_cast<const uint8_t*>(map);

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];  // little-endian
  if (header_len > kMaxHeaderBytes) {
    throw InvalidArgument("safetensors file '" + path + "' is corrupt: header length " +
                          std::to_string(header_len) + " exceeds the 100 MB limit");
  }
  if (header_len > file_size - 8) {
    throw InvalidArgument("safetensors file '" + path + "' is truncated: header length " +
                          std::to_string(header_len) + " but only " +
                          std::to_string(file_size - 8) + " bytes follow");
  }
  Json header;
  try {
    header = Json::parse(std::string_view(reinterpret_cast<const char*>(bytes + 8), header_len));
  } catch (const Json::exception& e) {
    throw InvalidArgument("safetensors file '" + path + "' has a corrupt header: " + e.what());
  }
  if (!header.is_object()) {
    throw InvalidArgument("safetensors file '" + path + "' has a corrupt header: not an object");
  }
  file->data_ = bytes + 8 + header_len;
  file->data_size_ = file_size - 8 - header_len;

  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& [name, value] : header.items()) {
    const std::string where = "safetensors file '" + path + "': tensor '" + name + "'";
    if (name == "__metadata__") {
      if (!value.is_object()) throw InvalidArgument(where + " must be an object");
      for (const auto& [k, v] : value.items()) {
        file->metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
      }
      continue;
    }
    if (!value.is_object() || !value.contains("dtype") || !value.contains("shape") ||
        !value.contains("data_offsets")) {
      throw InvalidArgument(where + " needs dtype, shape and data_offsets");
    }
    SafetensorsTensorInfo info;
    try {
      info.dtype = value.at("dtype").get<std::string>();
      info.shape = value.at("shape").get<std::vector<int64_t>>();
      auto offsets = value.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2) throw InvalidArgument(where + ": data_offsets needs 2 numbers");
      info.begin = offsets[0];
      info.end = offsets[1];
    } catch (const Json::exception& e) {
      throw InvalidArgument(where + " has a malformed entry: " + e.what());
    }
    const DtypeEntry* dt = FindDtype(info.dtype);
    if (!dt) throw InvalidArgument(where + " has unsupported dtype '" + info.dtype + "'");
    uint64_t numel = 1;
    for (int64_t d : info.shape) {
      if (d < 0) throw InvalidArgument(where + " has a negative dimension");
      numel *= static_cast<uint64_t>(d);
    }
    if (info.end < info.begin || info.end - info.begin != numel * dt->size) {
      throw InvalidArgument(where + " is corrupt: byte range [" + std::to_string(info.begin) +
                            ", " + std::to_string(info.end) + ") does not hold " +
                            std::to_string(numel) + " " + info.dtype + " elements");
    }
    if (info.end > file->data_size_) {
      throw InvalidArgument("safetensors file '" + path + "' is truncated: tensor '" + name +
                            "' ends at byte " + std::to_string(info.end) +
                            " of the data section, which has only " +
                            std::to_string(file->data_size_) + " bytes");
    }
    if (info.end > info.begin) ranges.emplace_back(info.begin, info.end);
    file->tensors_.emplace(name, std::move(info));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      throw InvalidArgument("safetensors file '" + path + "' is corrupt: tensors overlap");
    }
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, map_size_);
}

at::Tensor SafetensorsFile::View(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    throw NotFound("tensor '" + name + "' not found in safetensors file '" + path_ + "'");
  }
  const SafetensorsTensorInfo& info = it->second;
  const DtypeEntry* dt = FindDtype(info.dtype);
  auto options = at::TensorOptions().dtype(dt->type).device(at::kCPU);
  const uint8_t* ptr = data_ + info.begin;
  if (reinterpret_cast<uintptr_t>(ptr) % dt->size == 0) {
    // from_blob wants a mutable pointer; the tensor is never written through (MAP_PRIVATE and
    // PROT_READ would fault anyway).
    return at::from_blob(const_cast<uint8_t*>(ptr), info.shape, options);
  }
  at::Tensor copy = at::empty(info.shape, options);
  std::memcpy(copy.data_ptr(), ptr, info.end - info.begin);
  return copy;
}

void SafetensorsFile::CopyTo(const std::string& name, at::Tensor& dst) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) {
    throw NotFound("tensor '" + name + "' not found in safetensors file '" + path_ + "'");
  }
  if (dst.sizes() != c10::IntArrayRef(it->second.shape)) {
    throw InvalidArgument("tensor '" + name + "' in '" + path_ + "' has shape " +
                          ShapeString(it->second.shape) + ", expected " + ShapeString(dst.sizes()));
  }
  at::NoGradGuard no_grad;
  dst.copy_(View(name));
}

SafetensorsCheckpoint SafetensorsCheckpoint::Open(const std::string& path) {
  SafetensorsCheckpoint ckpt;
  fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.safetensors")) {
      p = p / "model.safetensors";
    } else if (fs::exists(p / "model.safetensors.index.json")) {
      p = p / "model.safetensors.index.json";
    } else {
      throw NotFound("no model.safetensors or model.safetensors.index.json in '" + path + "'");
    }
  }
  ckpt.description_ = p.string();
  const std::string fname = p.filename().string();
  const bool is_index = fname.size() > 5 && fname.substr(fname.size() - 5) == ".json";
  if (!is_index) {
    auto file = SafetensorsFile::Open(p.string());
    for (const auto& [name, info] : file->tensors()) ckpt.where_[name] = file.get();
    ckpt.metadata_ = file->metadata();
    ckpt.files_.push_back(std::move(file));
    return ckpt;
  }
  Json index = ReadJsonFile(p.string());
  if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    throw InvalidArgument("safetensors index '" + p.string() + "' has no weight_map object");
  }
  if (index.contains("metadata") && index["metadata"].is_object()) {
    for (const auto& [k, v] : index["metadata"].items()) {
      ckpt.metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  }
  std::map<std::string, const SafetensorsFile*> opened;
  for (const auto& [name, shard] : index["weight_map"].items()) {
    if (!shard.is_string()) {
      throw InvalidArgument("safetensors index '" + p.string() + "': weight_map entry '" + name +
                            "' is not a file name");
    }
    const std::string shard_name = shard.get<std::string>();
    auto it = opened.find(shard_name);
    if (it == opened.end()) {
      auto file = SafetensorsFile::Open((p.parent_path() / shard_name).string());
      it = opened.emplace(shard_name, file.get()).first;
      ckpt.files_.push_back(std::move(file));
    }
    if (!it->second->Contains(name)) {
      throw InvalidArgument("safetensors index '" + p.string() + "' maps tensor '" + name +
                            "' to '" + shard_name + "', which does not contain it");
    }
    ckpt.where_[name] = it->second;
  }
  return ckpt;
}

std::vector<std::string> SafetensorsCheckpoint::Names() const {
  std::vector<std::string> names;
  names.reserve(where_.size());
  for (const auto& [name, file] : where_) names.push_back(name);
  return names;
}

const SafetensorsFile& SafetensorsCheckpoint::FileOf(const std::string& name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    throw NotFound("tensor '" + name + "' not found in checkpoint '" + description_ + "'");
  }
  return *it->second;
}

const SafetensorsTensorInfo& SafetensorsCheckpoint::Info(const std::string& name) const {
  return FileOf(name).tensors().at(name);
}

void SaveSafetensors(const std::string& path,
                     const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     const std::map<std::string, std::string>& metadata) {
  struct Entry {
    std::string name;
    at::Tensor cpu;
    size_t elem_size;
  };
  std::vector<Entry> entries;
  std::set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__") {
      throw InvalidArgument("safetensors: invalid tensor name '" + name + "'");
    }
    if (!seen.insert(name).second) {
      throw InvalidArgument("safetensors: duplicate tensor name '" + name + "'");
    }
    SafetensorsDtypeName(t.scalar_type());  // validates
    entries.push_back(
        {name, t.detach().to(at::kCPU).contiguous(), static_cast<size_t>(t.element_size())});
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.elem_size != b.elem_size) return a.elem_size > b.elem_size;
    return a.name < b.name;
  });
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const Entry& e : entries) {
    const uint64_t nbytes = e.cpu.numel() * e.elem_size;
    header[e.name] = {{"dtype", SafetensorsDtypeName(e.cpu.scalar_type())},
                      {"shape", e.cpu.sizes().vec()},
                      {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw IoError("cannot write safetensors file '" + tmp + "'");
    uint8_t len[8];
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(n >> (8 * i));
    out.write(reinterpret_cast<const char*>(len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const Entry& e : entries) {
      out.write(static_cast<const char*>(e.cpu.data_ptr()),
                static_cast<std::streamsize>(e.cpu.numel() * e.elem_size));
    }
    if (!out.flush()) throw IoError("error writing safetensors file '" + tmp + "'");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) throw IoError("cannot rename '" + tmp + "' to '" + path + "': " + ec.message());
}

std::vector<std::string> SaveShardedSafetensors(
    const std::string& dir, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    uint64_t max_shard_bytes, const std::map<std::string, std::string>& metadata) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw IoError("cannot create model directory '" + dir + "': " + ec.message());
  // Shard assignment over the tensors in the given order.
  std::vector<std::vector<std::pair<std::string, at::Tensor>>> shards(1);
  uint64_t current = 0, total = 0;
  for (const auto& entry : tensors) {
    const uint64_t nbytes = static_cast<uint64_t>(entry.second.numel()) *
                            static_cast<uint64_t>(entry.second.element_size());
    if (max_shard_bytes > 0 && !shards.back().empty() && current + nbytes > max_shard_bytes) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(entry);
    current += nbytes;
    total += nbytes;
  }
  std::vector<std::string> written;
  const fs::path root(dir);
  if (shards.size() == 1) {
    SaveSafetensors((root / "model.safetensors").string(), shards[0], metadata);
    written.push_back("model.safetensors");
  } else {
    const size_t n = shards.size();
    auto shard_name = [n](size_t i) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "model-%05zu-of-%05zu.safetensors", i + 1, n);
      return std::string(buf);
    };
    Json weight_map = Json::object();
    for (size_t i = 0; i < n; ++i) {
      const std::string name = shard_name(i);
      SaveSafetensors((root / name).string(), shards[i], metadata);
      for (const auto& [tensor, t] : shards[i]) weight_map[tensor] = name;
      written.push_back(name);
    }
    Json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    const fs::path index_path = root / "model.safetensors.index.json";
    const std::string tmp = index_path.string() + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      if (!out) throw IoError("cannot write '" + tmp + "'");
      out << DumpJson(index, 2) << "\n";
      if (!out.flush()) throw IoError("error writing '" + tmp + "'");
    }
    fs::rename(tmp, index_path, ec);
    if (ec) throw IoError("cannot rename '" + tmp + "': " + ec.message());
    written.push_back("model.safetensors.index.json");
  }
  // Remove weight files of an earlier save that would otherwise describe another checkpoint.
  const std::set<std::string> keep(written.begin(), written.end());
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    const bool shard = name.rfind("model-", 0) == 0 && name.find("-of-") != std::string::npos &&
                       name.size() > 12 && name.substr(name.size() - 12) == ".safetensors";
    const bool weights = name == "model.safetensors" || name == "model.safetensors.index.json";
    if ((shard || weights) && !keep.count(name)) fs::remove(entry.path(), ec);
  }
  return written;
}

uint64_t ParseByteSize(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  std::string unit = text.substr(i);
  std::transform(unit.begin(), unit.end(), unit.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  static const std::map<std::string, uint64_t> kUnits = {
      {"", 1},           {"B", 1},
      {"KB", 1000ull},   {"MB", 1000ull * 1000},        {"GB", 1000ull * 1000 * 1000},
      {"KIB", 1ull << 10}, {"MIB", 1ull << 20},         {"GIB", 1ull << 30}};
  auto it = kUnits.find(unit);
  if (i == 0 || i > 15 || it == kUnits.end()) {
    throw InvalidArgument("invalid size '" + text + "': expected e.g. 5GB, 500MB, 64KiB or bytes");
  }
  return std::stoull(text.substr(0, i)) * it->second;
}

}  // namespace turnwise
