// fn_pack: function records packed for the spill come back exactly, and bad bodies are refused.
#include "spill/fn_pack.h"

#include <catch2/catch.hpp>
#include <random>
#include <vector>

using viztrace::spill::FnPacker;
using viztrace::spill::unpack_fn_records;

namespace {

// Packs as many of `in` as fit in one chunk body; returns the body and how many it took.
std::vector<unsigned char> pack(const std::vector<vt_fn_record>& in, std::size_t& taken,
                                std::size_t capacity = VT_CHUNK_MAX - sizeof(vt_chunk_header)) {
  std::vector<unsigned char> body(capacity);
  FnPacker packer(body.data(), body.size());
  taken = 0;
  while (taken < in.size() && packer.add(in[taken])) ++taken;
  CHECK(packer.records() == taken);
  body.resize(packer.finish());
  return body;
}

bool same(const vt_fn_record& a, const vt_fn_record& b) {
  return a.ts == b.ts && a.addr == b.addr;
}

}  // namespace

TEST_CASE("fn_pack: calls of a few functions pack to ~3 bytes a record and unpack exactly") {
  // mid/leaf pairs, 10 to 60 ticks apart, as a tight loop of two functions records them.
  std::mt19937_64 rng(7);
  std::vector<vt_fn_record> in;
  std::uint64_t ts = 0x00123456789abcdeull;
  const std::uint64_t mid = 0x55d1c0de1140, leaf = 0x55d1c0de1130;
  while (in.size() < 4000) {
    for (auto [addr, exit] : {std::pair{mid, false}, {leaf, false}, {leaf, true}, {mid, true}}) {
      ts += 10 + rng() % 50;
      in.push_back({ts | (exit ? VT_FN_EXIT : 0), addr});
    }
  }
  std::size_t taken = 0;
  auto body = pack(in, taken);
  REQUIRE(taken > 1000);
  CHECK(body.size() % 8 == 0);
  CHECK(static_cast<double>(body.size()) / static_cast<double>(taken) < 3.2);
  std::vector<vt_fn_record> out(taken);
  REQUIRE(unpack_fn_records(body.data(), body.size(), taken, out.data()));
  for (std::size_t i = 0; i < taken; ++i) {
    INFO("record " << i);
    REQUIRE(same(out[i], in[i]));
  }
}

TEST_CASE("fn_pack: any timestamps and addresses come back exactly, steps back included") {
  std::mt19937_64 rng(11);
  std::vector<vt_fn_record> in;
  std::vector<std::uint64_t> addrs;
  for (int i = 0; i < 200; ++i) addrs.push_back(rng());  // more than the 64 slots, colliding
  addrs.push_back(0);
  const std::uint64_t edges[] = {
      0, 1, VT_FN_EXIT - 1, VT_FN_EXIT - 2, 1ull << 61, (1ull << 62) + 5};
  for (int i = 0; i < 3000; ++i) {
    std::uint64_t t;
    switch (rng() % 4) {
      case 0:  // huge steps, both ways
        t = edges[rng() % std::size(edges)];
        break;
      case 1:
        t = rng() & ~VT_FN_EXIT;
        break;
      default:  // small steps, some of them back
        t = (in.empty() ? 0 : in.back().ts & ~VT_FN_EXIT) + rng() % 100 - 30;
    }
    t &= ~VT_FN_EXIT;
    in.push_back({t | (rng() % 2 ? VT_FN_EXIT : 0), addrs[rng() % addrs.size()]});
  }
  std::size_t at = 0;
  while (at < in.size()) {
    std::vector<vt_fn_record> rest(in.begin() + static_cast<long>(at), in.end());
    std::size_t taken = 0;
    auto body = pack(rest, taken);
    REQUIRE(taken > 0);
    std::vector<vt_fn_record> out(taken);
    REQUIRE(unpack_fn_records(body.data(), body.size(), taken, out.data()));
    for (std::size_t i = 0; i < taken; ++i) {
      INFO("record " << at + i);
      REQUIRE(same(out[i], rest[i]));
    }
    at += taken;
  }
}

TEST_CASE("fn_pack: a chunk body that is cut short or names a bad slot is refused") {
  std::vector<vt_fn_record> in;
  for (std::uint64_t i = 0; i < 50; ++i) in.push_back({1000 + i * 20, 0x4000 + (i % 3) * 16});
  std::size_t taken = 0;
  auto body = pack(in, taken);
  REQUIRE(taken == in.size());
  std::vector<vt_fn_record> out(taken + 1);
  CHECK(unpack_fn_records(body.data(), body.size(), taken, out.data()));
  // More records than the body holds.
  CHECK_FALSE(unpack_fn_records(body.data(), body.size(), taken + 1, out.data()));
  // Cut inside the first record's address.
  CHECK_FALSE(unpack_fn_records(body.data(), 4, 1, out.data()));
  // A hit whose slot is past the table.
  const unsigned char bad_slot[] = {0x02, 64};
  CHECK_FALSE(unpack_fn_records(bad_slot, sizeof bad_slot, 1, out.data()));
  // A head that never ends.
  const unsigned char endless[12] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
                                     0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  CHECK_FALSE(unpack_fn_records(endless, sizeof endless, 1, out.data()));
}
