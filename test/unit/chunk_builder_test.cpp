// ChunkBuilder: chunk framing, string pieces across chunks, sequence numbers and stream flags.
#include "core/chunk_builder.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "spill/spill_format.h"

using viztrace::ChunkBuilder;

namespace {

vt_chunk_header header_of(const ChunkBuilder::Chunk& c) {
  vt_chunk_header h;
  std::memcpy(&h, c.data(), sizeof h);
  return h;
}

// The records of a chunk, checked for framing on the way.
std::vector<std::pair<vt_record, std::string>> records_of(const ChunkBuilder::Chunk& c) {
  std::vector<std::pair<vt_record, std::string>> out;
  std::size_t off = sizeof(vt_chunk_header);
  while (off < c.size()) {
    vt_record r;
    REQUIRE(c.size() - off >= sizeof r);
    std::memcpy(&r, c.data() + off, sizeof r);
    REQUIRE(r.size >= sizeof r);
    REQUIRE(r.size % 8 == 0);
    REQUIRE(off + r.size <= c.size());
    out.emplace_back(r, std::string(reinterpret_cast<const char*>(c.data() + off + sizeof r),
                                    r.size - sizeof r));
    off += r.size;
  }
  REQUIRE(off == c.size());
  return out;
}

}  // namespace

TEST_CASE("ChunkBuilder frames records into valid chunks with their stream's identity") {
  ChunkBuilder b(100, 101, 0xabc);
  b.record(VT_REC_FORK, 0, 5000, vt_pid{200, 0});
  b.record(VT_REC_THREAD_START, 7, 6000);
  auto chunks = b.take();
  REQUIRE(chunks.size() == 1);
  const auto& c = chunks[0];
  CHECK(viztrace::spill::valid_chunk(c.data(), c.size()));
  vt_chunk_header h = header_of(c);
  CHECK(h.magic == VT_WIRE_MAGIC);
  CHECK(h.version == VT_WIRE_VERSION);
  CHECK(h.length == c.size());
  CHECK(h.pid == 100);
  CHECK(h.tid == 101);
  CHECK(h.image == 0xabc);
  CHECK(h.seq == 0);
  CHECK(h.nrec == 2);
  CHECK(h.flags == VT_CHUNK_STREAM_START);
  auto recs = records_of(c);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].first.type == VT_REC_FORK);
  CHECK(recs[0].first.size == 24);
  CHECK(recs[0].first.ts == 5000);
  vt_pid p;
  std::memcpy(&p, recs[0].second.data(), sizeof p);
  CHECK(p.pid == 200);
  CHECK(recs[1].first.type == VT_REC_THREAD_START);
  CHECK(recs[1].first.aux == 7);
  CHECK(recs[1].first.size == 16);
}

TEST_CASE("ChunkBuilder splits a long string into pieces across chunks, FINAL on the last") {
  std::string text;
  for (int i = 0; i < 10000; ++i) text += static_cast<char>('a' + i % 26);
  ChunkBuilder b(1, 1, 1);
  b.record(VT_REC_THREAD_START, 0, 1);
  b.string(VT_STR_ARGV, text, 2);
  b.record(VT_REC_EXEC, 0, 3);
  auto chunks = b.take();
  REQUIRE(chunks.size() == 3);  // 10000 bytes need three chunks of at most 4096
  std::string joined;
  int finals = 0, pieces = 0;
  bool exec_seen = false;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    CHECK(chunks[i].size() <= VT_CHUNK_MAX);
    CHECK(viztrace::spill::valid_chunk(chunks[i].data(), chunks[i].size()));
    CHECK(header_of(chunks[i]).seq == i);
    for (auto& [r, payload] : records_of(chunks[i])) {
      if (r.type != VT_REC_STRING) {
        exec_seen = exec_seen || r.type == VT_REC_EXEC;
        continue;
      }
      CHECK(!exec_seen);
      CHECK(VT_STR_FIELD(r.aux) == VT_STR_ARGV);
      CHECK(VT_STR_LEN(r.aux) <= payload.size());
      joined += payload.substr(0, VT_STR_LEN(r.aux));
      ++pieces;
      if (VT_STR_IS_FINAL(r.aux)) {
        ++finals;
        CHECK(joined.size() == text.size());  // FINAL only on the last piece
      }
    }
  }
  CHECK(exec_seen);
  CHECK(pieces >= 3);
  CHECK(finals == 1);
  CHECK(joined == text);
}

TEST_CASE("ChunkBuilder writes an empty string as one final piece") {
  ChunkBuilder b(1, 1, 1);
  b.string(VT_STR_CWD, "", 1);
  auto recs = records_of(b.take().at(0));
  REQUIRE(recs.size() == 1);
  CHECK(VT_STR_LEN(recs[0].first.aux) == 0);
  CHECK(VT_STR_IS_FINAL(recs[0].first.aux));
}

TEST_CASE("ChunkBuilder numbers chunks across take() calls and marks the stream's ends") {
  ChunkBuilder b(9, 10, 11, VT_CHUNK_COLLECTOR);
  b.record(VT_REC_THREAD_START, 0, 1);
  auto first = b.take();
  b.add_dropped(4);
  for (int i = 0; i < 600; ++i) b.record(VT_REC_THREAD_NAME, static_cast<std::uint32_t>(i), 2);
  b.end_stream();
  auto rest = b.take();
  CHECK(b.take().empty());
  REQUIRE(first.size() == 1);
  REQUIRE(rest.size() == 3);  // 600 records of 16 bytes: 255 fit a chunk
  CHECK(header_of(first[0]).flags == (VT_CHUNK_STREAM_START | VT_CHUNK_COLLECTOR));
  CHECK(header_of(first[0]).dropped == 0);
  std::uint32_t records = 0;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    vt_chunk_header h = header_of(rest[i]);
    CHECK(h.seq == i + 1);
    CHECK((h.flags & VT_CHUNK_STREAM_START) == 0);
    CHECK((h.flags & VT_CHUNK_COLLECTOR) != 0);
    CHECK(((h.flags & VT_CHUNK_STREAM_END) != 0) == (i + 1 == rest.size()));
    CHECK(h.dropped == (i == 0 ? 4u : 0u));  // counted into the next chunk only
    CHECK(h.nrec == records_of(rest[i]).size());
    records += h.nrec;
  }
  CHECK(records == 600);
}
