// Test support for the spill and report tests: fresh temp dirs, synthetic streams of wire
// records (through the real ChunkBuilder and SpillWriter), and a parsed view of a report.
#pragma once

#include <simdjson.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/chunk_builder.h"
#include "common/wire.h"
#include "spill/fn_pack.h"
#include "spill/session_dir.h"
#include "spill/spill_writer.h"

namespace viztrace::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    const char* t = std::getenv("TMPDIR");
    std::string templ = std::string(t && *t ? t : "/tmp") + "/vt-unit-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    REQUIRE(mkdtemp(buf.data()) != nullptr);
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Names in the dir, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_))
      out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  REQUIRE(out.good());
}

inline std::string gunzip_file(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::string out;
  char buf[65536];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  REQUIRE(n == 0);
  gzclose(f);
  return out;
}

// A hand-written trace in test/fixtures/traces.
inline std::string fixture_trace(const std::string& name) {
  return std::string(FIXTURE_TRACES_DIR) + "/" + name;
}

// argv as the wire carries it: each element NUL-terminated.
inline std::string argv_bytes(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += a + '\0';
  return out;
}

// One (pid, tid, image) stream of records. Each call closes its chunk, so that chunks of
// different streams can be interleaved in any order (strings stay with their record).
class Stream {
 public:
  using Chunk = ChunkBuilder::Chunk;
  Stream(std::uint32_t pid, std::uint32_t tid, std::uint32_t image, std::uint8_t flags = 0)
      : b_(pid, tid, image, flags) {}

  Stream& session(std::uint64_t ts, std::uint64_t realtime_ns, std::int32_t target,
                  std::int32_t viztrace, const std::vector<std::string>& command,
                  const std::string& cwd) {
    b_.string(VT_STR_COMMAND, argv_bytes(command), ts);
    b_.string(VT_STR_CWD, cwd, ts);
    return put(VT_REC_SESSION, 0, ts, vt_session{realtime_ns, target, viztrace});
  }
  Stream& spawn(std::uint64_t ts, std::int32_t pid, const std::string& path,
                const std::vector<std::string>& argv, std::uint32_t exe_flags = 0,
                std::int32_t error = 0) {
    b_.string(VT_STR_PATH, path, ts);
    b_.string(VT_STR_ARGV, argv_bytes(argv), ts);
    return put(VT_REC_SPAWN, exe_flags, ts, vt_spawn{error ? -1 : pid, error});
  }
  Stream& proc_start(std::uint64_t ts, std::uint32_t ppid, const std::vector<std::string>& argv,
                     const std::string& exe, const std::string& cwd, std::uint32_t flags = 0) {
    b_.string(VT_STR_ARGV, argv_bytes(argv), ts);
    b_.string(VT_STR_EXE, exe, ts);
    b_.string(VT_STR_CWD, cwd, ts);
    return put(VT_REC_PROC_START, flags, ts, vt_proc_start{ppid, 0});
  }
  Stream& fork(std::uint64_t ts, std::int32_t child) {
    return put(VT_REC_FORK, 0, ts, vt_pid{child, 0});
  }
  Stream& exec(std::uint64_t ts, const std::string& path, const std::vector<std::string>& argv,
               std::uint32_t exe_flags = 0, std::uint32_t ppid = 0) {
    b_.string(VT_STR_PATH, path, ts);
    b_.string(VT_STR_ARGV, argv_bytes(argv), ts);
    return put(VT_REC_EXEC, exe_flags, ts, vt_proc_start{ppid, 0});
  }
  Stream& exec_failed(std::uint64_t ts, int error) {
    b_.record(VT_REC_EXEC_FAILED, static_cast<std::uint32_t>(error), ts);
    return close();
  }
  Stream& exit(std::uint64_t ts, int status, vt_usage usage = {}) {
    return put(VT_REC_EXIT, static_cast<std::uint32_t>(status), ts, usage);
  }
  Stream& reap(std::uint64_t ts, std::int32_t pid, int wait_status,
               const vt_usage* usage = nullptr) {
    vt_reap r{};
    r.pid = pid;
    if (usage) {
      r.has_usage = 1;
      r.usage = *usage;
    }
    return put(VT_REC_REAP, static_cast<std::uint32_t>(wait_status), ts, r);
  }
  Stream& observed(std::uint64_t ts, std::int32_t pid, std::int32_t ppid,
                   const std::vector<std::string>& argv, const std::string& exe) {
    b_.string(VT_STR_ARGV, argv_bytes(argv), ts);
    b_.string(VT_STR_EXE, exe, ts);
    return put(VT_REC_OBSERVED, 0, ts, vt_observed{pid, ppid});
  }
  Stream& ended(std::uint64_t ts, std::int32_t pid, std::int32_t status) {
    return put(VT_REC_ENDED, 0, ts, vt_ended{pid, status});
  }
  Stream& thread_start(std::uint64_t ts) {
    b_.record(VT_REC_THREAD_START, 0, ts);
    return close();
  }
  Stream& thread_exit(std::uint64_t ts) {
    b_.record(VT_REC_THREAD_EXIT, 0, ts);
    b_.end_stream();
    return close();
  }
  Stream& thread_name(std::uint64_t ts, std::uint32_t tid, const std::string& name) {
    b_.string(VT_STR_NAME, name, ts);
    b_.record(VT_REC_THREAD_NAME, tid, ts);
    return close();
  }
  // Annotations (include/viztrace.h): args are "key=value" items.
  Stream& span_begin(std::uint64_t ts, const std::string& name) {
    b_.string(VT_STR_NAME, name, ts);
    b_.record(VT_REC_SPAN_BEGIN, 0, ts);
    return close();
  }
  Stream& span_end(std::uint64_t ts, const std::vector<std::string>& args = {}) {
    if (!args.empty()) b_.string(VT_STR_ARGS, argv_bytes(args), ts);
    b_.record(VT_REC_SPAN_END, 0, ts);
    return close();
  }
  Stream& mark(std::uint64_t ts, const std::string& name, const std::vector<std::string>& args,
               bool global = false) {
    b_.string(VT_STR_NAME, name, ts);
    if (!args.empty()) b_.string(VT_STR_ARGS, argv_bytes(args), ts);
    b_.record(VT_REC_MARK, global ? std::uint32_t{VT_MARK_GLOBAL} : 0u, ts);
    return close();
  }
  Stream& counter(std::uint64_t ts, const std::string& name, double value) {
    b_.string(VT_STR_NAME, name, ts);
    return put(VT_REC_COUNTER, 0, ts, vt_counter{value});
  }
  Stream& signal(std::uint64_t ts, int sig, std::int32_t to) {
    return put(VT_REC_SIGNAL, static_cast<std::uint32_t>(sig), ts, vt_pid{to, 0});
  }
  Stream& stats(std::uint64_t ts, const vt_stats& s) { return put(VT_REC_STATS, 0, ts, s); }

  ChunkBuilder& builder() { return b_; }
  // Closes the current chunk (if any) into this stream's list.
  Stream& close() {
    for (Chunk& c : b_.take()) chunks_.push_back(std::move(c));
    return *this;
  }
  std::vector<Chunk>& chunks() { return close().chunks_; }

 private:
  template <class T>
  Stream& put(std::uint16_t type, std::uint32_t aux, std::uint64_t ts, const T& payload) {
    b_.record(type, aux, ts, payload);
    return close();
  }

  ChunkBuilder b_;
  std::vector<Chunk> chunks_;
};

// The header of a function chunk of one thread's records, body_bytes after it.
inline vt_chunk_header function_header(std::uint8_t kind, std::uint32_t pid, std::uint32_t tid,
                                       std::uint32_t image, std::size_t records,
                                       std::size_t body_bytes, std::uint8_t clock) {
  vt_chunk_header h = {};
  h.magic = VT_WIRE_MAGIC;
  h.version = VT_WIRE_VERSION;
  h.kind = kind;
  h.pid = pid;
  h.tid = tid;
  h.image = image;
  h.nrec = static_cast<std::uint16_t>(records);
  h.length = static_cast<std::uint16_t>(sizeof h + body_bytes);
  h.reserved = clock;
  return h;
}

// A chunk of one thread's function call records (ts | VT_FN_EXIT for a return, address), packed
// as the collector spills a ring's records (VT_KIND_FUNCTIONS_PACKED).
inline Stream::Chunk function_chunk(std::uint32_t pid, std::uint32_t tid, std::uint32_t image,
                                    const std::vector<vt_fn_record>& records,
                                    std::uint8_t clock = VT_CLOCK_MONOTONIC) {
  Stream::Chunk c(VT_CHUNK_MAX);
  viztrace::spill::FnPacker packer(c.data() + sizeof(vt_chunk_header),
                                   c.size() - sizeof(vt_chunk_header));
  for (const vt_fn_record& r : records) REQUIRE(packer.add(r));
  const vt_chunk_header h = function_header(VT_KIND_FUNCTIONS_PACKED, pid, tid, image,
                                            records.size(), packer.finish(), clock);
  c.resize(h.length);
  std::memcpy(c.data(), &h, sizeof h);
  return c;
}

// The chunks of all streams in one arrival order: each stream's chunks stay in their order,
// the streams interleave as the seed says (seed 0: stream after stream).
inline std::vector<Stream::Chunk> interleave(std::vector<Stream*> streams, unsigned seed) {
  std::vector<std::size_t> picks;
  for (std::size_t i = 0; i < streams.size(); ++i)
    picks.insert(picks.end(), streams[i]->chunks().size(), i);
  if (seed != 0) std::shuffle(picks.begin(), picks.end(), std::mt19937(seed));
  std::vector<std::size_t> next(streams.size(), 0);
  std::vector<Stream::Chunk> out;
  for (std::size_t i : picks) out.push_back(streams[i]->chunks()[next[i]++]);
  return out;
}

// A process (pid 3000, /bin/calc) whose two threads make nested calls, a longjmp, calls
// shorter than 1 µs, and calls still open when the process exits; launched at t0 by viztrace
// (pid viztrace).
inline std::vector<Stream::Chunk> function_scenario(std::uint64_t t0, std::int32_t viztrace) {
  Stream c(viztrace, viztrace, 1, VT_CHUNK_COLLECTOR);
  c.session(t0, 1700000000123456789ull, 3000, viztrace, {"calc"}, "/work");
  c.spawn(t0 + 100'000, 3000, "/bin/calc", {"calc"});
  Stream main(3000, 3000, 0x61), worker(3000, 3001, 0x61);
  main.proc_start(t0 + 200'000, viztrace, {"calc"}, "/bin/calc", "/work");
  worker.thread_start(t0 + 300'000);
  worker.thread_exit(t0 + 800'000);
  main.exit(t0 + 900'000, 0);
  c.reap(t0 + 950'000, 3000, 0);
  std::vector<Stream::Chunk> out = interleave({&c, &main, &worker}, 0);
  auto in = [t0](std::uint64_t at, std::uint64_t addr) { return vt_fn_record{t0 + at, addr}; };
  auto out_ = [t0](std::uint64_t at, std::uint64_t addr) {
    return vt_fn_record{(t0 + at) | VT_FN_EXIT, addr};
  };
  // main: a(b(c c) b) longjmp out of d(e(f)) into a; g left open.
  out.push_back(function_chunk(3000, 3000, 0x61,
                               {in(210'000, 0xa0), in(210'100, 0xb0), in(210'200, 0xc0),
                                out_(210'300, 0xc0), in(210'300, 0xc0), out_(213'000, 0xc0),
                                out_(220'000, 0xb0), in(230'000, 0xd0), in(230'500, 0xe0),
                                in(231'000, 0xf0), out_(260'000, 0xd0)}));
  out.push_back(function_chunk(3000, 3000, 0x61,
                               {out_(300'000, 0xa0), in(400'000, 0x100), in(400'010, 0x110),
                                out_(400'020, 0x110)}));
  // worker: short calls under a long one, left open when the thread exits.
  std::vector<vt_fn_record> w = {in(310'000, 0xa0)};
  for (std::uint64_t i = 0; i < 50; ++i) {
    w.push_back(in(320'000 + i * 2'000, 0xb0));
    w.push_back(out_(320'000 + i * 2'000 + 300 + i * 20, 0xb0));
  }
  out.push_back(function_chunk(3000, 3001, 0x61, w));
  return out;
}

// A session dir with a spill written through the real SpillWriter.
class SyntheticSpill {
 public:
  explicit SyntheticSpill(const TempDir& root,
                          std::size_t segment_bytes = spill::SpillWriter::kDefaultSegmentBytes)
      : session_(spill::SessionDir::create(root.path())), writer_(session_, segment_bytes) {}

  void add(const std::vector<Stream::Chunk>& chunks) {
    for (const Stream::Chunk& c : chunks) writer_.append(c.data(), c.size());
    REQUIRE(writer_.flush());
  }
  const std::string& dir() const { return session_.path(); }
  spill::SpillWriter& writer() { return writer_; }
  spill::SessionDir& session() { return session_; }

 private:
  spill::SessionDir session_;
  spill::SpillWriter writer_;
};

// A report parsed with simdjson, with the lookups the tests need.
class ParsedReport {
 public:
  explicit ParsedReport(std::string text) : text_(std::move(text)), json_(text_) {
    auto result = parser_.parse(json_);
    INFO(text_.substr(0, 2000));
    REQUIRE(result.error() == simdjson::SUCCESS);
    root_ = result.value();
  }
  ParsedReport(const ParsedReport&) = delete;

  const std::string& text() const { return text_; }
  simdjson::dom::element root() const { return root_; }
  simdjson::dom::element metadata() const { return root_["metadata"].value(); }

  std::vector<simdjson::dom::element> events() const {
    std::vector<simdjson::dom::element> out;
    simdjson::dom::array array = root_["traceEvents"].get_array().value();
    for (simdjson::dom::element e : array) out.push_back(e);
    return out;
  }
  // Events with this ph (and cat and pid when given), in ts order.
  std::vector<simdjson::dom::element> find(std::string_view ph, std::string_view cat = {},
                                           std::optional<std::int64_t> pid = {}) const {
    std::vector<simdjson::dom::element> out;
    for (simdjson::dom::element e : events()) {
      if (str(e, "ph") != ph) continue;
      if (!cat.empty() && str(e, "cat") != cat) continue;
      if (pid && num(e, "pid") != *pid) continue;
      out.push_back(e);
    }
    std::stable_sort(out.begin(), out.end(), [](auto a, auto b) { return ts(a) < ts(b); });
    return out;
  }
  // The args.name of the M event `name` for (pid, tid), or "" when there is none.
  std::string metadata_name(std::string_view name, std::int64_t pid, std::int64_t tid) const {
    for (simdjson::dom::element e : find("M"))
      if (str(e, "name") == name && num(e, "pid") == pid && num(e, "tid") == tid)
        return std::string(e["args"]["name"].get_string().value());
    return "";
  }

  static std::string str(simdjson::dom::element e, std::string_view key) {
    auto v = e[key].get_string();
    return v.error() ? std::string("<missing>") : std::string(v.value());
  }
  static std::int64_t num(simdjson::dom::element e, std::string_view key) {
    auto v = e[key].get_int64();
    return v.error() ? INT64_MIN : v.value();
  }
  static bool has(simdjson::dom::element e, std::string_view key) {
    return e[key].error() == simdjson::SUCCESS;
  }
  // ts and dur in µs (as parsed: doubles).
  static double ts(simdjson::dom::element e) {
    auto v = e["ts"].get_double();
    return v.error() ? -1 : v.value();
  }
  static double dur(simdjson::dom::element e) {
    auto v = e["dur"].get_double();
    return v.error() ? -1 : v.value();
  }
  static std::vector<std::string> strings(simdjson::dom::element e) {
    std::vector<std::string> out;
    simdjson::dom::array array = e.get_array().value();
    for (simdjson::dom::element s : array) out.emplace_back(s.get_string().value());
    return out;
  }

 private:
  std::string text_;
  simdjson::padded_string json_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

}  // namespace viztrace::test
