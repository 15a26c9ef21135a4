// SpillWriter and SpillReader: round trip, segment rollover, torn tails, missing spills.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>

#include "common/error.h"
#include "spill/cleanup_registry.h"
#include "spill/spill_format.h"
#include "spill/spill_reader.h"
#include "synthetic_trace.h"

using viztrace::ChunkBuilder;
using viztrace::spill::SpillReader;
using viztrace::test::SyntheticSpill;
using viztrace::test::TempDir;

namespace {

// n chunks of one stream, each holding one record whose ts is its index.
std::vector<ChunkBuilder::Chunk> numbered_chunks(int n, std::size_t payload = 0) {
  ChunkBuilder b(42, 42, 7);
  std::vector<ChunkBuilder::Chunk> out;
  std::string filler(payload, 'x');
  for (int i = 0; i < n; ++i) {
    b.record(VT_REC_THREAD_START, 0, static_cast<std::uint64_t>(i), filler.data(), filler.size());
    for (auto& c : b.take()) out.push_back(std::move(c));
  }
  return out;
}

std::vector<std::uint64_t> read_back_ts(SpillReader& reader) {
  std::vector<std::uint64_t> ts;
  reader.for_each([&](const vt_chunk_header& h) {
    vt_record r;
    std::memcpy(&r, reinterpret_cast<const unsigned char*>(&h) + sizeof h, sizeof r);
    ts.push_back(r.ts);
  });
  return ts;
}

}  // namespace

TEST_CASE("spill: chunks come back whole and in order across segment rollovers") {
  TempDir root;
  SyntheticSpill spill(root, 8192);  // a few chunks per segment
  auto chunks = numbered_chunks(200, 1000);
  for (std::size_t i = 0; i < chunks.size(); i += 7)  // several flushes
    spill.add(std::vector<ChunkBuilder::Chunk>(
        chunks.begin() + static_cast<std::ptrdiff_t>(i),
        chunks.begin() + static_cast<std::ptrdiff_t>(std::min(i + 7, chunks.size()))));
  CHECK(spill.writer().segments() > 10);
  CHECK(spill.writer().lost_chunks() == 0);

  SpillReader reader(spill.dir());
  auto ts = read_back_ts(reader);
  REQUIRE(ts.size() == 200);
  for (std::size_t i = 0; i < ts.size(); ++i) CHECK(ts[i] == i);
  CHECK(reader.segments_read() == spill.writer().segments());
  CHECK(reader.damaged_bytes() == 0);
  CHECK(SpillReader::is_spill_dir(spill.dir()));
}

TEST_CASE("spill: a torn tail is skipped and counted as damaged") {
  TempDir root;
  SyntheticSpill spill(root);
  auto chunks = numbered_chunks(5, 40);
  spill.add(chunks);
  std::string segment = spill.dir() + "/" + viztrace::spill::segment_name(0);
  struct stat st;
  REQUIRE(stat(segment.c_str(), &st) == 0);
  // Cut the last chunk in the middle, as a crash during a write would.
  off_t cut = st.st_size - static_cast<off_t>(chunks.back().size() / 2);
  REQUIRE(truncate(segment.c_str(), cut) == 0);

  SpillReader reader(spill.dir());
  auto ts = read_back_ts(reader);
  CHECK(ts == std::vector<std::uint64_t>{0, 1, 2, 3});
  CHECK(reader.damaged_bytes() == chunks.back().size() - chunks.back().size() / 2);
}

TEST_CASE("spill: garbage in the middle of a segment ends that segment, not the next one") {
  TempDir root;
  SyntheticSpill spill(root, 2048);
  auto chunks = numbered_chunks(6, 600);  // 648-byte chunks: a segment holds 3 (16 + 3 * 648)
  const std::size_t size = chunks[0].size();
  REQUIRE(size == 648);
  spill.add({chunks.begin(), chunks.begin() + 3});  // the writer rolls over between flushes
  spill.add({chunks.begin() + 3, chunks.end()});
  REQUIRE(spill.writer().segments() == 2);
  std::string segment = spill.dir() + "/" + viztrace::spill::segment_name(0);
  std::string bytes = viztrace::test::read_file(segment);
  bytes[16 + size] ^= 0x5a;  // the second chunk's magic
  viztrace::test::write_file(segment, bytes);

  SpillReader reader(spill.dir());
  CHECK(read_back_ts(reader) == std::vector<std::uint64_t>{0, 3, 4, 5});
  CHECK(reader.damaged_bytes() == 2 * size);
}

TEST_CASE("spill: a dir without segments is an error naming the dir") {
  TempDir root;
  SpillReader reader(root.path());
  CHECK_FALSE(SpillReader::is_spill_dir(root.path()));
  CHECK_THROWS_WITH(reader.for_each([](const vt_chunk_header&) {}),
                    Catch::Contains(root.path()) && Catch::Contains("no trace data"));
}

// Known bug (spill/cleanup_registry.cc): sweep_dir and keep_dir never free their slot, so once
// kMaxDirs sessions have existed in a process, later ones are neither registered nor swept.
TEST_CASE("spill: every session dir is swept, however many sessions came before") {
  TempDir root;
  for (int i = 0; i < viztrace::spill::CleanupRegistry::kMaxDirs + 2; ++i) {
    std::string dir;
    {
      SyntheticSpill spill(root, 4096);
      for (auto& chunk : numbered_chunks(5, 3000)) spill.add({chunk});  // a segment each
      REQUIRE(spill.writer().segments() == 5);
      dir = spill.dir();
    }
    struct stat st;
    INFO("session " << i);
    CHECK(stat(dir.c_str(), &st) != 0);
  }
  CHECK(root.entries().empty());
}

TEST_CASE("spill: chunks of every size across the reader's buffer boundaries, then garbage") {
  TempDir root;
  SyntheticSpill spill(root);  // one big segment
  ChunkBuilder b(42, 42, 7);
  std::vector<ChunkBuilder::Chunk> chunks;
  for (int i = 0; i < 5000; ++i) {  // up to VT_CHUNK_MAX bytes each
    std::string filler(static_cast<std::size_t>(i * 7919 % 4000), 'x');
    b.record(VT_REC_THREAD_START, 0, static_cast<std::uint64_t>(i), filler.data(), filler.size());
    for (auto& c : b.take()) chunks.push_back(std::move(c));
  }
  spill.add(chunks);
  REQUIRE(spill.writer().segments() == 1);
  std::string segment = spill.dir() + "/" + viztrace::spill::segment_name(0);
  std::string bytes = viztrace::test::read_file(segment);
  REQUIRE(bytes.size() > 8u << 20);  // several refills of the 1 MiB buffer

  SpillReader whole(spill.dir());
  auto ts = read_back_ts(whole);
  REQUIRE(ts.size() == chunks.size());
  for (std::size_t i = 0; i < ts.size(); ++i) CHECK(ts[i] == i);
  CHECK(whole.damaged_bytes() == 0);
  CHECK(whole.bytes_read() == bytes.size());

  // Garbage past the 5 MiB mark: what came before is read, the rest of the segment is damaged.
  std::size_t off = 16, index = 0;
  while (off < (5u << 20)) off += chunks[index++].size();
  bytes[off] ^= 0x5a;
  viztrace::test::write_file(segment, bytes);
  SpillReader cut(spill.dir());
  CHECK(read_back_ts(cut).size() == index);
  CHECK(cut.damaged_bytes() == bytes.size() - off);
}

TEST_CASE("spill: a segment of another wire version is refused, naming it and both versions") {
  TempDir root;
  SyntheticSpill spill(root, 2048);
  auto chunks = numbered_chunks(6, 600);  // two segments
  spill.add({chunks.begin(), chunks.begin() + 3});
  spill.add({chunks.begin() + 3, chunks.end()});
  REQUIRE(spill.writer().segments() == 2);
  const std::string old_version = std::to_string(VT_WIRE_VERSION - 1);
  const std::string current = std::to_string(VT_WIRE_VERSION);
  for (std::uint32_t index : {0u, 1u}) {
    INFO("segment " << index);
    const std::string segment = spill.dir() + "/" + viztrace::spill::segment_name(index);
    const std::string good = viztrace::test::read_file(segment);
    std::string bytes = good;
    const std::uint32_t older = VT_WIRE_VERSION - 1;
    std::memcpy(&bytes[offsetof(viztrace::spill::SegmentHeader, wire_version)], &older,
                sizeof older);
    viztrace::test::write_file(segment, bytes);
    SpillReader reader(spill.dir());
    try {
      reader.for_each([](const vt_chunk_header&) {});
      FAIL("the spill was read");
    } catch (const viztrace::Error& e) {
      const std::string message = e.what();
      CHECK(message == segment + ": trace data of wire version " + old_version +
                           ", this viztrace reads version " + current);
    }
    viztrace::test::write_file(segment, good);
  }
  SpillReader reader(spill.dir());
  CHECK(read_back_ts(reader) == std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5});
}
