// Thin RAII wrappers over the SQLite C API, private to storage/.
//
// Every SQLite failure becomes an IoError carrying the database path and SQLite's message; this
// is the store's one conversion boundary for SQLite result codes.
#ifndef TURNWISE_STORAGE_INTERNAL_SQLITE_H_
#define TURNWISE_STORAGE_INTERNAL_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace turnwise::storage_internal {

class Db;

// A prepared statement. Bind parameters are 1-based, columns 0-based, as in SQLite.
class Stmt {
 public:
  Stmt(Db& db, sqlite3_stmt* stmt) : db_(&db), stmt_(stmt) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt();

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, double v);
  Stmt& Bind(int i, std::string_view v);   // copied (SQLITE_TRANSIENT)
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, bool v) { return Bind(i, static_cast<int64_t>(v ? 1 : 0)); }
  Stmt& BindBlob(int i, const void* data, size_t size);
  Stmt& BindNull(int i);

  // Advances; true when a row is available. Resets the statement when it is done or fails.
  // Throws IoError on failure. A caller that stops before the end must Reset() (or hold a
  // ResetOnExit), or the connection keeps an open read snapshot.
  bool Step();
  // Steps to completion (for statements without results).
  void Run();
  // Resets and clears bindings for reuse.
  void Reset();

  int64_t Int(int col) const;
  double Double(int col) const;
  std::string Text(int col) const;
  bool IsNull(int col) const;
  std::string Blob(int col) const;  // raw bytes

 private:
  Db* db_;
  sqlite3_stmt* stmt_;
};

// Resets a statement when the scope ends (for lookups that read one row and stop).
class ResetOnExit {
 public:
  explicit ResetOnExit(Stmt& s) : s_(s) {}
  ~ResetOnExit() { s_.Reset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  Stmt& s_;
};

class Db {
 public:
  // Opens (read-write, creating, or read-only). Sets busy_timeout and synchronous=NORMAL.
  Db(const std::string& path, bool read_only);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void Exec(std::string_view sql);
  // A statement prepared once per connection and cached by its SQL text (SQLITE_PREPARE_PERSISTENT).
  // The returned statement is reset and its bindings cleared; it stays owned by the Db.
  Stmt& Prepare(const std::string& sql);

  int64_t LastInsertRowid() const;
  [[noreturn]] void Fail(std::string_view what) const;
  const std::string& path() const { return path_; }
  sqlite3* raw() { return db_; }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  std::map<std::string, std::unique_ptr<Stmt>> cache_;
};

// RAII transaction: BEGIN IMMEDIATE (or deferred for reads) ... COMMIT, ROLLBACK on unwind.
class Transaction {
 public:
  explicit Transaction(Db& db, bool immediate = true);
  ~Transaction();
  void Commit();

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace turnwise::storage_internal

#endif  // TURNWISE_STORAGE_INTERNAL_SQLITE_H_
