// ChunkWriter: what the sink receives, decoded field by field (framing, string pieces across
// chunks, sequence numbers, stream flags, dropped accounting), and valid_chunk on bad input.
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "shim/chunk_writer.h"
#include "spill/spill_format.h"

using viztrace::spill::valid_chunk;
using viztrace::spill::valid_chunk_header;
using vt_shim::ChunkWriter;
using vt_shim::Stream;

namespace {

constexpr size_t kHeader = sizeof(vt_chunk_header);
constexpr size_t kRecord = sizeof(vt_record);
constexpr size_t pad8(size_t n) {
  return (n + 7) & ~size_t{7};
}

// Every chunk the writer tried to send, and whether the sink took it.
struct Capture {
  struct Sent {
    std::vector<unsigned char> bytes;
    bool delivered;
  };
  std::vector<Sent> sent;
  std::vector<bool> outcomes;  // the sink's answer per call; true past the end

  static bool sink(const void* chunk, size_t length, void* context) {
    auto* self = static_cast<Capture*>(context);
    size_t call = self->sent.size();
    bool ok = call >= self->outcomes.size() || self->outcomes[call];
    const auto* p = static_cast<const unsigned char*>(chunk);
    self->sent.push_back({std::vector<unsigned char>(p, p + length), ok});
    return ok;
  }
  std::vector<std::vector<unsigned char>> delivered() const {
    std::vector<std::vector<unsigned char>> out;
    for (const auto& s : sent)
      if (s.delivered) out.push_back(s.bytes);
    return out;
  }
};

struct Record {
  vt_record r;
  std::string payload;  // size - 16 bytes, padding included
};

struct Chunk {
  vt_chunk_header h;
  std::vector<Record> records;
};

// Decodes one chunk, checking everything a collector and a report rely on.
Chunk decode(const std::vector<unsigned char>& bytes) {
  Chunk c;
  REQUIRE(bytes.size() >= kHeader);
  REQUIRE(bytes.size() <= VT_CHUNK_MAX);
  REQUIRE(bytes.size() % 8 == 0);
  std::memcpy(&c.h, bytes.data(), kHeader);
  CHECK(c.h.magic == VT_WIRE_MAGIC);
  CHECK(c.h.version == VT_WIRE_VERSION);
  CHECK(c.h.kind == VT_KIND_RECORDS);
  CHECK(c.h.length == bytes.size());
  CHECK(c.h.reserved == 0);
  CHECK(valid_chunk(bytes.data(), bytes.size()));
  size_t off = kHeader;
  while (off < bytes.size()) {
    Record rec;
    REQUIRE(bytes.size() - off >= kRecord);
    std::memcpy(&rec.r, bytes.data() + off, kRecord);
    REQUIRE(rec.r.size >= kRecord);
    REQUIRE(rec.r.size % 8 == 0);
    REQUIRE(off + rec.r.size <= bytes.size());
    rec.payload.assign(reinterpret_cast<const char*>(bytes.data() + off + kRecord),
                       rec.r.size - kRecord);
    if (rec.r.type == VT_REC_STRING) {
      size_t len = VT_STR_LEN(rec.r.aux);
      CHECK(rec.r.size == kRecord + pad8(len));
      CHECK(rec.payload.substr(len) == std::string(rec.payload.size() - len, '\0'));
    }
    c.records.push_back(rec);
    off += rec.r.size;
  }
  CHECK(c.h.nrec == c.records.size());
  return c;
}

std::vector<Chunk> decode_all(const std::vector<std::vector<unsigned char>>& chunks) {
  std::vector<Chunk> out;
  for (const auto& c : chunks) out.push_back(decode(c));
  return out;
}

// A reassembled string and the record that followed it.
struct Str {
  uint32_t field;
  uint64_t ts;
  std::string bytes;
  size_t pieces;
};

// The strings of a stream, put back together from their pieces; checks that pieces of one string
// agree on field and ts and that only the last is final.
std::vector<Str> strings_of(const std::vector<Chunk>& chunks) {
  std::vector<Str> out;
  bool open = false;
  Str cur{};
  for (const auto& c : chunks) {
    for (const auto& rec : c.records) {
      if (rec.r.type != VT_REC_STRING) {
        CHECK_FALSE(open);  // a string is never interrupted by another record
        continue;
      }
      uint32_t field = VT_STR_FIELD(rec.r.aux);
      if (!open) {
        cur = Str{field, rec.r.ts, "", 0};
        open = true;
      }
      CHECK(field == cur.field);
      CHECK(rec.r.ts == cur.ts);
      cur.bytes += rec.payload.substr(0, VT_STR_LEN(rec.r.aux));
      ++cur.pieces;
      if (VT_STR_IS_FINAL(rec.r.aux)) {
        out.push_back(cur);
        open = false;
      }
    }
  }
  CHECK_FALSE(open);
  return out;
}

std::string pattern(size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('!' + (i * 7 + seed) % 90);
  return s;
}

Stream make_stream() {
  return Stream{4242, 4243, 0xdeadbeef, 0, 0};
}

}  // namespace

TEST_CASE("ChunkWriter frames records with every header field set", "[shim]") {
  Capture cap;
  Stream s = make_stream();
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    vt_pid child{777, 0};
    w.record(VT_REC_FORK, 0, 5000, &child, sizeof child);
    w.record(VT_REC_THREAD_START, 7, 6000);
    const char odd[5] = {'a', 'b', 'c', 'd', 'e'};
    w.record(VT_REC_EXEC_FAILED, 2, 7000, odd, sizeof odd);
    CHECK(cap.sent.empty());  // nothing goes out before a flush
    w.flush();
  }
  REQUIRE(cap.sent.size() == 1);  // and the destructor had nothing left
  Chunk c = decode(cap.sent[0].bytes);
  CHECK(c.h.length == kHeader + 24 + 16 + 24);
  CHECK(c.h.pid == 4242);
  CHECK(c.h.tid == 4243);
  CHECK(c.h.image == 0xdeadbeef);
  CHECK(c.h.seq == 0);
  CHECK(c.h.nrec == 3);
  CHECK(c.h.flags == VT_CHUNK_STREAM_START);
  CHECK(c.h.dropped == 0);
  REQUIRE(c.records.size() == 3);

  CHECK(c.records[0].r.type == VT_REC_FORK);
  CHECK(c.records[0].r.size == 24);
  CHECK(c.records[0].r.aux == 0);
  CHECK(c.records[0].r.ts == 5000);
  vt_pid got;
  std::memcpy(&got, c.records[0].payload.data(), sizeof got);
  CHECK(got.pid == 777);

  CHECK(c.records[1].r.type == VT_REC_THREAD_START);
  CHECK(c.records[1].r.size == 16);
  CHECK(c.records[1].r.aux == 7);
  CHECK(c.records[1].r.ts == 6000);

  CHECK(c.records[2].r.type == VT_REC_EXEC_FAILED);
  CHECK(c.records[2].r.size == 24);
  CHECK(c.records[2].payload == std::string("abcde\0\0\0", 8));  // zero padding

  CHECK(s.seq == 1);
  CHECK(s.dropped == 0);
}

TEST_CASE("ChunkWriter sends nothing when nothing is pending", "[shim]") {
  Capture cap;
  Stream s = make_stream();
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    w.flush();
    w.flush();
  }
  CHECK(cap.sent.empty());
  CHECK(s.seq == 0);
  vt_shim::ChunkWriterN<VT_CHUNK_MAX> idle;  // never started: flushing and destroying it is harmless
  idle.flush();
}

TEST_CASE("ChunkWriter's destructor sends what is pending", "[shim]") {
  Capture cap;
  Stream s = make_stream();
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    w.record(VT_REC_THREAD_EXIT, 0, 1);
  }
  REQUIRE(cap.sent.size() == 1);
  CHECK(decode(cap.sent[0].bytes).h.nrec == 1);
}

TEST_CASE("ChunkWriter fills chunks to VT_CHUNK_MAX and numbers them", "[shim]") {
  Capture cap;
  Stream s = make_stream();
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    for (uint32_t i = 0; i < 600; ++i) w.record(VT_REC_THREAD_START, i, 1000 + i);
  }
  auto chunks = decode_all(cap.delivered());
  const size_t per_chunk = (VT_CHUNK_MAX - kHeader) / kRecord;  // 254
  REQUIRE(chunks.size() == 3);
  uint32_t next = 0;
  for (size_t i = 0; i < chunks.size(); ++i) {
    const auto& h = chunks[i].h;
    CHECK(h.seq == i);
    CHECK(h.flags == (i == 0 ? VT_CHUNK_STREAM_START : 0));
    CHECK(h.nrec == (i < 2 ? per_chunk : 600 - 2 * per_chunk));
    if (i < 2) CHECK(h.length == VT_CHUNK_MAX);
    for (const auto& rec : chunks[i].records) {
      CHECK(rec.r.aux == next);
      CHECK(rec.r.ts == 1000 + next);
      ++next;
    }
  }
  CHECK(next == 600);
  CHECK(s.seq == 3);
}

TEST_CASE("ChunkWriter takes a record that fills a chunk and refuses a larger one", "[shim]") {
  Capture cap;
  Stream s = make_stream();
  const size_t largest = VT_CHUNK_MAX - kHeader - kRecord;  // 4048 bytes of payload
  std::string big = pattern(largest + 1, 3);
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    w.record(VT_REC_THREAD_START, 1, 1);
    w.record(VT_REC_EXIT, 2, 2, big.data(), largest);      // does not fit after the first
    w.record(VT_REC_EXIT, 3, 3, big.data(), largest + 1);  // never fits: refused
    w.record(VT_REC_THREAD_EXIT, 4, 4);
  }
  auto chunks = decode_all(cap.delivered());
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[0].h.nrec == 1);
  REQUIRE(chunks[1].h.nrec == 1);
  CHECK(chunks[1].h.length == VT_CHUNK_MAX);
  CHECK(chunks[1].records[0].r.aux == 2);
  CHECK(chunks[1].records[0].payload == big.substr(0, largest));
  REQUIRE(chunks[2].h.nrec == 1);
  CHECK(chunks[2].records[0].r.aux == 4);
}

TEST_CASE("ChunkWriter writes a short string as one final record", "[shim]") {
  Capture cap;
  Stream s = make_stream();
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    w.string(VT_STR_EXE, "/bin/true", 9, 1234);
    w.string(VT_STR_CWD, "", 0, 1235);
    w.string(VT_STR_PATH, "12345678", 8, 1236);
    w.record(VT_REC_PROC_START, 0, 1237);
  }
  REQUIRE(cap.sent.size() == 1);
  Chunk c = decode(cap.sent[0].bytes);
  REQUIRE(c.records.size() == 4);
  CHECK(c.records[0].r.type == VT_REC_STRING);
  CHECK(c.records[0].r.aux == VT_STR_AUX(VT_STR_EXE, true, 9));
  CHECK(c.records[0].r.size == 32);
  CHECK(c.records[0].r.ts == 1234);
  CHECK(c.records[0].payload == std::string("/bin/true\0\0\0\0\0\0\0", 16));
  CHECK(c.records[1].r.aux == VT_STR_AUX(VT_STR_CWD, true, 0));
  CHECK(c.records[1].r.size == 16);
  CHECK(c.records[2].r.aux == VT_STR_AUX(VT_STR_PATH, true, 8));
  CHECK(c.records[2].r.size == 24);
  CHECK(c.records[3].r.type == VT_REC_PROC_START);
  auto strs = strings_of({c});
  REQUIRE(strs.size() == 3);
  CHECK(strs[0].bytes == "/bin/true");
  CHECK(strs[1].bytes.empty());
  CHECK(strs[2].bytes == "12345678");
}

TEST_CASE("ChunkWriter splits a long string across chunks at any starting point", "[shim]") {
  // Every combination of how full the chunk already is and how long the string is.
  for (size_t before : {0, 1, 200, 250, 252, 253, 254}) {
    for (size_t len :
         {0, 1, 7, 8, 9, 23, 24, 25, 4000, 4039, 4040, 4041, 4047, 4048, 4049, 4064, 8100, 12345}) {
      INFO("records before: " << before << ", string length: " << len);
      Capture cap;
      Stream s = make_stream();
      const std::string text = pattern(len, static_cast<unsigned>(before + len));
      {
        vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
        for (size_t i = 0; i < before; ++i) w.record(VT_REC_THREAD_START, 0, 1);
        w.string(VT_STR_ARGV, text.data(), text.size(), 99);
        w.record(VT_REC_EXEC, 0, 100);
      }
      auto chunks = decode_all(cap.delivered());
      REQUIRE(!chunks.empty());
      for (size_t i = 0; i < chunks.size(); ++i) CHECK(chunks[i].h.seq == i);
      auto strs = strings_of(chunks);
      REQUIRE(strs.size() == 1);
      CHECK(strs[0].bytes == text);
      CHECK(strs[0].field == VT_STR_ARGV);
      CHECK(strs[0].ts == 99);
      const auto& last = chunks.back().records.back();
      CHECK(last.r.type == VT_REC_EXEC);
      CHECK(s.seq == chunks.size());
    }
  }
}

TEST_CASE("ChunkWriter sends a 100 KB string list in many chunks that reassemble", "[shim]") {
  std::vector<std::string> args;
  std::string expected;
  for (unsigned i = 0; expected.size() < 100 * 1024; ++i) {
    args.push_back(pattern(1 + (i * 37) % 300, i));
    expected += args.back();
    expected += '\0';
  }
  std::vector<const char*> list;
  for (const auto& a : args) list.push_back(a.c_str());
  list.push_back(nullptr);

  Capture cap;
  Stream s = make_stream();
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    w.record(VT_REC_THREAD_START, 0, 1);
    w.string_list(VT_STR_ARGV, list.data(), 555);
    w.record(VT_REC_EXEC, 0, 556);
  }
  REQUIRE(cap.sent.size() >= 100 * 1024 / VT_CHUNK_MAX);
  for (const auto& sent : cap.sent) {
    CHECK(sent.delivered);
    CHECK(sent.bytes.size() <= VT_CHUNK_MAX);
    CHECK(sent.bytes.size() % 8 == 0);
    CHECK(valid_chunk(sent.bytes.data(), sent.bytes.size()));
  }
  auto chunks = decode_all(cap.delivered());
  for (size_t i = 0; i < chunks.size(); ++i) {
    CHECK(chunks[i].h.seq == i);
    CHECK(chunks[i].h.flags == (i == 0 ? VT_CHUNK_STREAM_START : 0));
    CHECK(chunks[i].h.pid == 4242);
  }
  auto strs = strings_of(chunks);
  REQUIRE(strs.size() == 1);
  CHECK(strs[0].bytes.size() == expected.size());
  CHECK(strs[0].bytes == expected);
  CHECK(strs[0].pieces >= chunks.size() - 1);
  CHECK(chunks.back().records.back().r.type == VT_REC_EXEC);
  // Only full chunks are sent before the end: no chunk but the last is less than nearly full.
  for (size_t i = 0; i + 1 < chunks.size(); ++i) CHECK(chunks[i].h.length > VT_CHUNK_MAX - 32);
}

TEST_CASE("ChunkWriter's string_list stops at max_bytes on an element boundary", "[shim]") {
  const char* list[] = {"one", "two", "three", nullptr};
  auto run = [&](const char* const* l, size_t max_bytes) {
    Capture cap;
    Stream s = make_stream();
    {
      vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
      w.string_list(VT_STR_ARGV, l, 1, max_bytes);
    }
    auto strs = strings_of(decode_all(cap.delivered()));
    REQUIRE(!strs.empty());
    CHECK(strs[0].field == VT_STR_ARGV);
    return strs[0].bytes;
  };
  CHECK(run(list, 1u << 20) == std::string("one\0two\0three\0", 14));
  CHECK(run(list, 14) == std::string("one\0two\0three\0", 14));
  CHECK(run(list, 13) == std::string("one\0two\0", 8));
  CHECK(run(list, 3) == "");
  CHECK(run(nullptr, 100) == "");
  const char* empty[] = {nullptr};
  CHECK(run(empty, 100) == "");
  const char* blanks[] = {"", "", nullptr};
  CHECK(run(blanks, 100) == std::string("\0\0", 2));
}

TEST_CASE("ChunkWriter's string_list says what an argv cut short left out", "[shim]") {
  const char* list[] = {"one", "two", "three", "four", nullptr};
  auto run = [&](uint32_t field, size_t max_bytes) {
    Capture cap;
    Stream s = make_stream();
    {
      vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
      w.string_list(field, list, 7, max_bytes);
      w.record(VT_REC_EXEC, 0, 8);
    }
    return strings_of(decode_all(cap.delivered()));
  };
  auto cut = run(VT_STR_ARGV, 9);
  REQUIRE(cut.size() == 2);
  CHECK(cut[0].bytes == std::string("one\0two\0", 8));
  CHECK(cut[1].field == VT_STR_ARGV_CUT);
  CHECK(cut[1].ts == 7);
  vt_argv_cut left;
  REQUIRE(cut[1].bytes.size() == sizeof left);
  std::memcpy(&left, cut[1].bytes.data(), sizeof left);
  CHECK(left.arguments == 2);
  CHECK(left.bytes == 6 + 5);
  CHECK(run(VT_STR_ARGV, 19).size() == 1);  // all of it fits: nothing to say
  CHECK(run(VT_STR_ARGS, 9).size() == 1);   // annotation args: each one chunk, no room
}

TEST_CASE("ChunkWriter's string_words writes space-separated words argv-style", "[shim]") {
  auto run = [&](const char* text, size_t max_bytes) {
    Capture cap;
    Stream s = make_stream();
    {
      vt_shim::ChunkWriterN<1024> w(s, Capture::sink, &cap, false);
      w.string_words(VT_STR_ARGS, text, 1, max_bytes);
      w.record(VT_REC_MARK, 0, 1);
    }
    auto chunks = decode_all(cap.delivered());
    REQUIRE(chunks.size() == 1);  // an annotation is one chunk
    auto strs = strings_of(chunks);
    REQUIRE(strs.size() == 1);
    CHECK(strs[0].field == VT_STR_ARGS);
    return strs[0].bytes;
  };
  CHECK(run("a=1 b=two", 512) == std::string("a=1\0b=two\0", 10));
  CHECK(run("  a=1   b=2  ", 512) == std::string("a=1\0b=2\0", 8));  // runs of spaces
  CHECK(run("k=v=w", 512) == std::string("k=v=w\0", 6));
  CHECK(run("", 512) == "");
  CHECK(run(nullptr, 512) == "");
  CHECK(run("   ", 512) == "");
  CHECK(run("a=1 b=2 c=3", 8) == std::string("a=1\0b=2\0", 8));  // whole words only
  CHECK(run("a=1 b=2 c=3", 7) == std::string("a=1\0", 4));
  const std::string many(4000, 'x');  // longer than max_bytes: left out, still one chunk
  CHECK(run(("a=1 " + many).c_str(), 512) == std::string("a=1\0", 4));
}

TEST_CASE("ChunkWriter counts only delivered chunks in seq and carries drops", "[shim]") {
  Capture cap;
  cap.outcomes = {false, false, true, false, true, true};
  Stream s = make_stream();
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    for (uint32_t chunk = 0; chunk < 6; ++chunk) {
      for (uint32_t i = 0; i <= chunk; ++i) w.record(VT_REC_THREAD_START, chunk, 1);
      w.flush();
    }
  }
  REQUIRE(cap.sent.size() == 6);
  std::vector<vt_chunk_header> h;
  for (const auto& sent : cap.sent) h.push_back(decode(sent.bytes).h);
  // Sent #0 (1 record) and #1 (2) fail: #2 is still seq 0, opens the stream, and reports 3.
  CHECK(h[0].seq == 0);
  CHECK(h[0].flags == VT_CHUNK_STREAM_START);
  CHECK(h[0].dropped == 0);
  CHECK(h[1].seq == 0);
  CHECK(h[1].dropped == 1);
  CHECK(h[2].seq == 0);
  CHECK(h[2].flags == VT_CHUNK_STREAM_START);
  CHECK(h[2].dropped == 3);
  // #3 (4 records) fails: #4 is seq 1 and reports 4; #5 reports nothing.
  CHECK(h[3].seq == 1);
  CHECK(h[3].dropped == 0);
  CHECK(h[4].seq == 1);
  CHECK(h[4].flags == 0);
  CHECK(h[4].dropped == 4);
  CHECK(h[5].seq == 2);
  CHECK(h[5].dropped == 0);
  CHECK(s.seq == 3);
  CHECK(s.dropped == 0);
}

TEST_CASE("ChunkWriter leaves a failed chunk's records counted in the stream", "[shim]") {
  Capture cap;
  cap.outcomes = {false};
  Stream s = make_stream();
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    for (int i = 0; i < 5; ++i) w.record(VT_REC_THREAD_START, 0, 1);
  }
  CHECK(s.seq == 0);
  CHECK(s.dropped == 5);
}

TEST_CASE("ChunkWriter's unsequenced chunks have seq 0 and leave seq alone", "[shim]") {
  Capture cap;
  Stream s = make_stream();
  s.seq = 5;
  s.dropped = 2;
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, true);
    for (int i = 0; i < 300; ++i) w.record(VT_REC_THREAD_START, 0, 1);  // two chunks
  }
  auto chunks = decode_all(cap.delivered());
  REQUIRE(chunks.size() == 2);
  for (const auto& c : chunks) {
    CHECK(c.h.seq == 0);
    CHECK(c.h.flags == VT_CHUNK_UNSEQUENCED);
  }
  CHECK(chunks[0].h.dropped == 2);  // drops are reported by whichever chunk gets through
  CHECK(chunks[1].h.dropped == 0);
  CHECK(s.seq == 5);
  CHECK(s.dropped == 0);

  SECTION("an unsequenced chunk on a new stream does not claim its start") {
    Capture cap2;
    Stream fresh = make_stream();
    {
      vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(fresh, Capture::sink, &cap2, true);
      w.record(VT_REC_THREAD_START, 0, 1);
    }
    REQUIRE(cap2.sent.size() == 1);
    CHECK(decode(cap2.sent[0].bytes).h.flags == VT_CHUNK_UNSEQUENCED);
    CHECK(fresh.seq == 0);
    // The stream's first sequenced chunk is still its start.
    {
      vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(fresh, Capture::sink, &cap2, false);
      w.record(VT_REC_THREAD_START, 0, 2);
    }
    REQUIRE(cap2.sent.size() == 2);
    vt_chunk_header h = decode(cap2.sent[1].bytes).h;
    CHECK(h.seq == 0);
    CHECK(h.flags == VT_CHUNK_STREAM_START);
    CHECK(fresh.seq == 1);
  }
  SECTION("a failed unsequenced chunk adds to the stream's drops") {
    Capture cap2;
    cap2.outcomes = {false};
    {
      vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap2, true);
      for (int i = 0; i < 3; ++i) w.record(VT_REC_THREAD_START, 0, 1);
    }
    CHECK(s.dropped == 3);
    CHECK(s.seq == 5);
  }
}

TEST_CASE("ChunkWriter's end_stream marks the last chunk only", "[shim]") {
  SECTION("a stream that spans chunks") {
    Capture cap;
    Stream s = make_stream();
    {
      vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
      for (int i = 0; i < 300; ++i) w.record(VT_REC_THREAD_START, 0, 1);
      w.record(VT_REC_THREAD_EXIT, 0, 2);
      w.end_stream();
    }
    auto chunks = decode_all(cap.delivered());
    REQUIRE(chunks.size() == 2);
    CHECK(chunks[0].h.flags == VT_CHUNK_STREAM_START);
    CHECK(chunks[1].h.flags == VT_CHUNK_STREAM_END);
    CHECK(chunks[1].records.back().r.type == VT_REC_THREAD_EXIT);
  }
  SECTION("a stream of one chunk starts and ends in it") {
    Capture cap;
    Stream s = make_stream();
    {
      vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
      w.record(VT_REC_THREAD_EXIT, 0, 2);
      w.end_stream();
      w.flush();
    }
    REQUIRE(cap.sent.size() == 1);
    CHECK(decode(cap.sent[0].bytes).h.flags == (VT_CHUNK_STREAM_START | VT_CHUNK_STREAM_END));
  }
  SECTION("a thread's last words, as the shim writes them") {
    Capture cap;
    Stream s = make_stream();
    s.seq = 9;
    {
      vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
      w.string(VT_STR_NAME, "worker", 6, 5);
      w.record(VT_REC_THREAD_NAME, 4243, 5);
      w.record(VT_REC_THREAD_EXIT, 0, 5);
      w.end_stream();
    }
    REQUIRE(cap.sent.size() == 1);
    Chunk c = decode(cap.sent[0].bytes);
    CHECK(c.h.seq == 9);
    CHECK(c.h.flags == VT_CHUNK_STREAM_END);
    CHECK(c.h.nrec == 3);
  }
}

TEST_CASE("ChunkWriter can be pointed at another stream", "[shim]") {
  Capture cap;
  Stream a = make_stream();
  Stream b = Stream{1, 2, 3, 7, 1};
  vt_shim::ChunkWriterN<VT_CHUNK_MAX> w;
  w.start(a, Capture::sink, &cap, false);
  w.record(VT_REC_THREAD_START, 0, 1);
  w.flush();
  w.start(b, Capture::sink, &cap, false);
  w.record(VT_REC_THREAD_START, 0, 1);
  w.flush();
  auto chunks = decode_all(cap.delivered());
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[0].h.pid == 4242);
  CHECK(chunks[1].h.pid == 1);
  CHECK(chunks[1].h.tid == 2);
  CHECK(chunks[1].h.image == 3);
  CHECK(chunks[1].h.seq == 7);
  CHECK(chunks[1].h.dropped == 1);
  CHECK(a.seq == 1);
  CHECK(b.seq == 8);
}

namespace {

// A well-formed chunk of two records (16 and 24 bytes) to break in different ways.
std::vector<unsigned char> good_chunk() {
  Capture cap;
  Stream s = make_stream();
  {
    vt_shim::ChunkWriterN<VT_CHUNK_MAX> w(s, Capture::sink, &cap, false);
    w.record(VT_REC_THREAD_START, 0, 1);
    vt_pid p{5, 0};
    w.record(VT_REC_FORK, 0, 2, &p, sizeof p);
  }
  REQUIRE(cap.sent.size() == 1);
  return cap.sent[0].bytes;
}

template <class T>
void poke(std::vector<unsigned char>& bytes, size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

constexpr size_t kRec0 = kHeader;       // first record
constexpr size_t kRec1 = kHeader + 16;  // second record

}  // namespace

TEST_CASE("valid_chunk accepts a whole chunk and nothing shorter", "[shim]") {
  auto c = good_chunk();
  REQUIRE(c.size() == kHeader + 40);
  CHECK(valid_chunk(c.data(), c.size()));
  // More bytes available than the chunk (the next chunk follows) is fine.
  auto longer = c;
  longer.resize(c.size() + 64, 0xee);
  CHECK(valid_chunk(longer.data(), longer.size()));
  for (size_t n = 0; n < c.size(); ++n) {
    INFO("available: " << n);
    CHECK_FALSE(valid_chunk(c.data(), n));
  }
  // A chunk with no records is well-formed.
  auto empty = c;
  poke<uint16_t>(empty, offsetof(vt_chunk_header, length), kHeader);
  poke<uint16_t>(empty, offsetof(vt_chunk_header, nrec), 0);
  CHECK(valid_chunk(empty.data(), kHeader));
}

TEST_CASE("valid_chunk rejects a bad header", "[shim]") {
  auto check_bad = [](auto mutate) {
    auto c = good_chunk();
    mutate(c);
    vt_chunk_header h;
    std::memcpy(&h, c.data(), sizeof h);
    CHECK_FALSE(valid_chunk_header(h));
    CHECK_FALSE(valid_chunk(c.data(), c.size()));
  };
  check_bad([](auto& c) { poke<uint32_t>(c, 0, VT_WIRE_MAGIC ^ 1); });
  check_bad([](auto& c) { poke<uint32_t>(c, 0, 0); });
  check_bad([](auto& c) { poke<uint8_t>(c, offsetof(vt_chunk_header, version), 0); });
  check_bad([](auto& c) { poke<uint8_t>(c, offsetof(vt_chunk_header, version), VT_WIRE_VERSION + 1); });
  check_bad([](auto& c) { poke<uint8_t>(c, offsetof(vt_chunk_header, version), VT_WIRE_VERSION - 1); });
  check_bad([](auto& c) { poke<uint8_t>(c, offsetof(vt_chunk_header, kind), 0); });
  check_bad([](auto& c) { poke<uint8_t>(c, offsetof(vt_chunk_header, kind), 2); });  // retired
  check_bad([](auto& c) { poke<uint8_t>(c, offsetof(vt_chunk_header, kind), VT_KIND_FUNCTIONS_PACKED + 1); });
  check_bad([](auto& c) { poke<uint32_t>(c, offsetof(vt_chunk_header, pid), 0); });
  check_bad([](auto& c) { poke<uint16_t>(c, offsetof(vt_chunk_header, length), 0); });
  check_bad([](auto& c) { poke<uint16_t>(c, offsetof(vt_chunk_header, length), 24); });
  check_bad([](auto& c) { poke<uint16_t>(c, offsetof(vt_chunk_header, length), 68); });  // % 8
  check_bad([](auto& c) {
    c.resize(VT_CHUNK_MAX + 8);
    poke<uint16_t>(c, offsetof(vt_chunk_header, length), VT_CHUNK_MAX + 8);
  });
}

TEST_CASE("valid_chunk rejects records that do not exactly fill the chunk", "[shim]") {
  auto check_bad = [](const char* what, auto mutate) {
    INFO(what);
    auto c = good_chunk();
    mutate(c);
    CHECK_FALSE(valid_chunk(c.data(), c.size()));
  };
  check_bad("nrec too high",
            [](auto& c) { poke<uint16_t>(c, offsetof(vt_chunk_header, nrec), 3); });
  check_bad("nrec too low", [](auto& c) { poke<uint16_t>(c, offsetof(vt_chunk_header, nrec), 1); });
  check_bad("nrec zero", [](auto& c) { poke<uint16_t>(c, offsetof(vt_chunk_header, nrec), 0); });
  check_bad("record size 0", [](auto& c) { poke<uint16_t>(c, kRec0 + 2, 0); });
  check_bad("record size 8", [](auto& c) { poke<uint16_t>(c, kRec0 + 2, 8); });
  check_bad("record size not a multiple of 8", [](auto& c) { poke<uint16_t>(c, kRec0 + 2, 20); });
  check_bad("last record overruns", [](auto& c) { poke<uint16_t>(c, kRec1 + 2, 32); });
  check_bad("first record overruns", [](auto& c) { poke<uint16_t>(c, kRec0 + 2, 0xfff8); });
  check_bad("8 stray bytes after the records", [](auto& c) {
    c.resize(c.size() + 8, 0);
    poke<uint16_t>(c, offsetof(vt_chunk_header, length), static_cast<uint16_t>(c.size()));
  });
  // Merging the two records into one of the same total size is well-formed, if nrec says 1.
  auto merged = good_chunk();
  poke<uint16_t>(merged, kRec0 + 2, 40);
  CHECK_FALSE(valid_chunk(merged.data(), merged.size()));
  poke<uint16_t>(merged, offsetof(vt_chunk_header, nrec), 1);
  CHECK(valid_chunk(merged.data(), merged.size()));
}
