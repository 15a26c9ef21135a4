#include "report/writers/gzip_sink.h"

#include "common/error.h"

namespace viztrace::report {
namespace {
constexpr std::size_t kBufferBytes = 256u << 10;
constexpr int kGzipWindowBits = 15 + 16;  // +16: gzip header and trailer instead of zlib's
}  // namespace

GzipSink::GzipSink(ByteSink& out, std::string name)
    : out_(out), name_(std::move(name)), buffer_(new char[kBufferBytes]) {
  if (deflateInit2(&stream_, 1, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw Error("cannot write " + name_ + ": cannot start zlib compression");
}

GzipSink::~GzipSink() {
  deflateEnd(&stream_);
}

void GzipSink::write(const char* data, std::size_t n) {
  // avail_in is 32-bit: feed huge writes in slices.
  while (n > 0) {
    uInt slice = n > (1u << 30) ? (1u << 30) : static_cast<uInt>(n);
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    stream_.avail_in = slice;
    deflate_into_out(Z_NO_FLUSH);
    data += slice;
    n -= slice;
  }
}

void GzipSink::finish() {
  deflate_into_out(Z_FINISH);
}

void GzipSink::deflate_into_out(int flush) {
  for (;;) {
    stream_.next_out = reinterpret_cast<Bytef*>(buffer_.get());
    stream_.avail_out = kBufferBytes;
    int rc = deflate(&stream_, flush);
    if (rc == Z_STREAM_ERROR) throw Error("cannot write " + name_ + ": zlib compression failed");
    std::size_t produced = kBufferBytes - stream_.avail_out;
    if (produced > 0) out_.write(buffer_.get(), produced);
    if (flush == Z_FINISH ? rc == Z_STREAM_END : stream_.avail_out != 0) return;
  }
}

}  // namespace viztrace::report
