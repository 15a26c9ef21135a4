// FnRings: a ring whose process died before publishing its last records.
#include "core/fn_rings.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "spill/fn_pack.h"
#include "spill/spill_reader.h"
#include "synthetic_trace.h"

using viztrace::FnRings;
using viztrace::spill::SpillReader;
using viztrace::test::SyntheticSpill;
using viztrace::test::TempDir;

namespace {

// A pid that is certainly gone: a child that exited and was reaped.
pid_t dead_pid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return pid;
}

// The records of every function chunk in the spill, in order (the collector packs them).
std::vector<vt_fn_record> spilled(const std::string& dir) {
  std::vector<vt_fn_record> out;
  SpillReader reader(dir);
  reader.for_each([&](const vt_chunk_header& h) {
    if (h.kind != VT_KIND_FUNCTIONS_PACKED) return;
    const auto* p = reinterpret_cast<const unsigned char*>(&h) + sizeof h;
    std::vector<vt_fn_record> records(h.nrec);
    REQUIRE(viztrace::spill::unpack_fn_records(p, h.length - sizeof h, h.nrec, records.data()));
    out.insert(out.end(), records.begin(), records.end());
  });
  return out;
}

// A ring file of `capacity` slots for thread pid/pid, image `image`, fully backed, empty.
std::vector<unsigned char> ring_file(std::uint64_t capacity, pid_t pid, std::uint32_t image) {
  std::vector<unsigned char> file(VT_FN_RING_HEADER + capacity * sizeof(vt_fn_record));
  auto* h = reinterpret_cast<vt_fn_ring*>(file.data());
  h->magic = VT_FN_RING_MAGIC;
  h->version = VT_WIRE_VERSION;
  h->pid = static_cast<std::uint32_t>(pid);
  h->tid = h->pid;
  h->image = image;
  h->clock = VT_CLOCK_MONOTONIC;
  h->capacity = capacity;
  h->backed = static_cast<std::uint32_t>(capacity);
  return file;
}

}  // namespace

TEST_CASE("fn rings: a dead thread's unpublished records are taken, an older lap's are not") {
  constexpr std::uint64_t kCap = 64;
  const pid_t pid = dead_pid();
  for (std::uint64_t unpublished : {0u, 5u, 15u}) {
    INFO(unpublished << " records past produced");
    TempDir root;
    SyntheticSpill spill(root);
    // Second lap: records 0..69 published, 30 of them consumed; then `unpublished` more; the
    // slots after those still hold records of the first lap.
    const std::uint64_t produced = 70, consumed = 30;
    std::vector<unsigned char> file = ring_file(kCap, pid, 9);
    auto* h = reinterpret_cast<vt_fn_ring*>(file.data());
    h->produced = produced;
    h->consumed = consumed;
    auto* slots = reinterpret_cast<vt_fn_record*>(file.data() + VT_FN_RING_HEADER);
    for (std::uint64_t i = 0; i < produced + unpublished; ++i)
      slots[i % kCap] = vt_fn_record{(1000 + i * 10) | (i % 2 ? VT_FN_EXIT : 0), 0x400000 + i};
    std::string name = FnRings::file_name(h->pid, h->tid, h->image);
    viztrace::test::write_file(spill.dir() + "/" + name,
                               std::string(file.begin(), file.end()));
    {
      FnRings rings(spill.session().fd(), spill.writer());
      rings.add(h->pid, h->tid, h->image, h->pid, h->tid);
      rings.finish();
      CHECK(rings.stats().records == produced + unpublished - consumed);
    }
    auto records = spilled(spill.dir());
    REQUIRE(records.size() == produced + unpublished - consumed);
    for (std::size_t i = 0; i < records.size(); ++i) CHECK(records[i].addr == 0x400000 + consumed + i);
    CHECK(access((spill.dir() + "/" + name).c_str(), F_OK) != 0);  // removed once emptied
  }
}

TEST_CASE("fn rings: slots the file has no space for are never read, and are counted") {
  constexpr std::uint64_t kCap = 64;
  const pid_t pid = dead_pid();
  TempDir root;
  SyntheticSpill spill(root);
  // First lap, space for 16 slots; `produced` says 20 (a broken writer). The file is as large
  // as the ring, but a real one would have holes there: reading them could fault.
  std::vector<unsigned char> file = ring_file(kCap, pid, 7);
  auto* h = reinterpret_cast<vt_fn_ring*>(file.data());
  h->backed = 16;
  h->produced = 20;
  h->dropped = 3;
  h->no_space = 3;
  auto* slots = reinterpret_cast<vt_fn_record*>(file.data() + VT_FN_RING_HEADER);
  for (std::uint64_t i = 0; i < 24; ++i) slots[i] = vt_fn_record{1000 + i * 10, 0x400000 + i};
  std::string name = FnRings::file_name(h->pid, h->tid, h->image);
  viztrace::test::write_file(spill.dir() + "/" + name, std::string(file.begin(), file.end()));
  {
    FnRings rings(spill.session().fd(), spill.writer());
    rings.add(h->pid, h->tid, h->image, h->pid, h->tid);
    rings.finish();
    CHECK(rings.stats().records == 16);
    CHECK(rings.stats().dropped == 3 + 4);
    CHECK(rings.stats().no_space == 3);
  }
  auto records = spilled(spill.dir());
  REQUIRE(records.size() == 16);
  CHECK(records.back().addr == 0x400000 + 15);
}
