// ThreadedSink: bytes reach the sink whole and in order; the sink's errors come back.
#include "report/writers/threaded_sink.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "common/error.h"
#include "string_sink.h"

using viztrace::report::ByteSink;
using viztrace::report::ThreadedSink;
using viztrace::test::StringSink;

namespace {

// Takes `limit` bytes, then fails like a full disk.
struct FullSink final : ByteSink {
  std::size_t limit, taken = 0;
  explicit FullSink(std::size_t l) : limit(l) {}
  void write(const char*, std::size_t n) override {
    if (taken + n > limit) throw viztrace::Error("cannot write out.json: No space left on device");
    taken += n;
  }
};

}  // namespace

TEST_CASE("threaded sink: every byte, in order, whatever the sizes of the writes") {
  std::mt19937 rng(3);
  std::string expected;
  StringSink out;
  {
    ThreadedSink sink(out);
    for (int i = 0; i < 3000; ++i) {
      std::size_t n = rng() % 3 == 0 ? rng() % 20000 : rng() % 64;
      std::string piece(n, static_cast<char>('a' + i % 26));
      piece[0 % (n ? n : 1)] = static_cast<char>(i);
      expected += piece;
      sink.write(piece.data(), piece.size());
    }
    sink.finish();
  }
  CHECK(out.bytes.size() == expected.size());
  CHECK(out.bytes == expected);
  CHECK(out.writes == (expected.size() + ThreadedSink::kBufferBytes - 1) / ThreadedSink::kBufferBytes);
}

TEST_CASE("threaded sink: the sink's error comes back as it was thrown") {
  FullSink out(3 * ThreadedSink::kBufferBytes);
  ThreadedSink sink(out);
  std::string block(100000, 'x');
  auto fill = [&] {
    for (int i = 0; i < 200; ++i) sink.write(block.data(), block.size());  // 20 MB
    sink.finish();
  };
  CHECK_THROWS_WITH(fill(), Catch::Contains("No space left on device"));
  CHECK(out.taken == 3 * ThreadedSink::kBufferBytes);
}

TEST_CASE("threaded sink: dropped without finish, it stops without passing the rest on") {
  StringSink out;
  {
    ThreadedSink sink(out);
    std::string block(ThreadedSink::kBufferBytes / 2, 'y');
    sink.write(block.data(), block.size());  // less than a buffer: never handed over
  }
  CHECK(out.bytes.empty());
}
