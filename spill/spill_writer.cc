#include "spill/spill_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "spill/spill_format.h"

namespace viztrace::spill {
namespace {
constexpr std::size_t kBufferBytes = 1u << 20;
// Room kept for lifecycle records once the filesystem is full: a few thousand processes.
constexpr off_t kReserveBytes = 512 << 10;

bool is_bulk(const unsigned char* chunk, std::size_t length) {
  if (length < sizeof(vt_chunk_header)) return false;
  vt_chunk_header h;
  std::memcpy(&h, chunk, sizeof h);
  return h.kind == VT_KIND_FUNCTIONS_PACKED;
}

bool out_of_space(int err) {
  return err == ENOSPC || err == EDQUOT;
}

bool write_all(int fd, const unsigned char* p, std::size_t n, int& err) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : ENOSPC;
      return false;
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}
}  // namespace

SpillWriter::SpillWriter(SessionDir& dir, std::size_t segment_bytes)
    : SpillWriter(static_cast<SegmentDir&>(dir), 0, segment_bytes) {}

SpillWriter::SpillWriter(SegmentDir& dir, std::uint32_t first_segment, std::size_t segment_bytes)
    : dir_(dir), segment_bytes_(segment_bytes), segments_(first_segment) {
  buffer_.reserve(kBufferBytes);
  hold_reserve();
}

SpillWriter::~SpillWriter() {
  flush();
  if (fd_ >= 0) ::close(fd_);
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
}

// The reserve is an unnamed file with blocks allocated past its end: nothing else can take
// them, and the kernel frees them however viztrace ends.
void SpillWriter::hold_reserve() {
  int fd = ::openat(dir_.fd(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return;  // no O_TMPFILE here: no reserve
  if (::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, kReserveBytes) != 0) {
    ::close(fd);  // already too full to hold one
    return;
  }
  reserve_fd_ = fd;
}

void SpillWriter::become_scarce() {
  scarce_ = true;
  std::size_t kept = 0;
  std::size_t kept_chunks = 0;
  for (const Buffered& c : chunks_) {
    if (c.bulk) {
      ++lost_chunks_;
      lost_since_flush_ = true;
      continue;
    }
    std::memmove(buffer_.data() + kept, buffer_.data() + c.offset, c.length);
    kept += c.length;
    ++kept_chunks;
  }
  buffer_.resize(kept);
  buffered_chunks_ = kept_chunks;
  chunks_.clear();
  if (reserve_fd_ < 0) return;
  // The reserve becomes the next segment: what follows is written into its blocks.
  const int reserve = std::exchange(reserve_fd_, -1);
  const std::string proc = "/proc/self/fd/" + std::to_string(reserve);
  char name[kSegmentNameMax];
  if (claim_segment(name)) {
    if (::linkat(AT_FDCWD, proc.c_str(), dir_.fd(), name, AT_SYMLINK_FOLLOW) == 0) {
      begin_segment(reserve);
      return;
    }
    unclaim_segment();
  }
  ::close(reserve);
}

bool SpillWriter::open_segment() {
  char name[kSegmentNameMax];
  if (!claim_segment(name)) return false;
  int fd = ::openat(dir_.fd(), name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    last_error_ = errno;
    unclaim_segment();
    return false;
  }
  return begin_segment(fd);
}

// Ends the current segment and counts the next one before it exists, so that no guard can
// miss it; name: what to call it.
bool SpillWriter::claim_segment(char (&name)[kSegmentNameMax]) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (segments_ >= kMaxSegments) {
    last_error_ = EFBIG;
    return false;
  }
  dir_.set_segments(segments_ + 1);
  segment_name(segments_, name);
  return true;
}

void SpillWriter::unclaim_segment() {
  dir_.set_segments(segments_);
}

// The claimed segment is fd, named: its header goes first.
bool SpillWriter::begin_segment(int fd) {
  ++segments_;
  SegmentHeader h{};
  std::memcpy(h.magic, kSegmentMagic, sizeof h.magic);
  h.wire_version = VT_WIRE_VERSION;
  int err = 0;
  if (!write_all(fd, reinterpret_cast<const unsigned char*>(&h), sizeof h, err)) {
    last_error_ = err;
    ::close(fd);
    return false;
  }
  fd_ = fd;
  segment_size_ = sizeof h;
  return true;
}

void SpillWriter::append(const void* chunk, std::size_t length) {
  append({{chunk, length}});
}

void SpillWriter::append(std::initializer_list<Piece> chunk) {
  std::size_t length = 0;
  for (const Piece& piece : chunk) length += piece.length;
  const bool bulk =
      chunk.size() > 0 &&
      is_bulk(static_cast<const unsigned char*>(chunk.begin()->data), chunk.begin()->length);
  if (bulk && scarce_) {
    ++lost_chunks_;
    lost_since_flush_ = true;
    return;
  }
  if (buffer_.size() + length > kBufferBytes) flush();
  chunks_.push_back({buffer_.size(), length, bulk});
  for (const Piece& piece : chunk) {
    const auto* p = static_cast<const unsigned char*>(piece.data);
    buffer_.insert(buffer_.end(), p, p + piece.length);
  }
  ++buffered_chunks_;
}

// A filesystem that ran full is given the reserve back, and the lifecycle chunks are written
// again without the function chunks.
bool SpillWriter::write_buffer() {
  int err = 0;
  if (write_once(err)) return true;
  if (!out_of_space(err) || scarce_) return false;
  become_scarce();
  return buffer_.empty() || write_once(err);
}

// Writes the buffer into the current segment, rolling over to a new one when the segment is
// full or the file size limit says so (EFBIG). A failed write is cut back off the segment, so
// segments only ever hold whole chunks.
bool SpillWriter::write_once(int& err) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (fd_ < 0 || segment_size_ + buffer_.size() > segment_bytes_) {
      if (!open_segment()) {
        err = last_error_;
        return false;
      }
    }
    err = 0;
    if (write_all(fd_, buffer_.data(), buffer_.size(), err)) {
      segment_size_ += buffer_.size();
      bytes_written_ += buffer_.size();
      return true;
    }
    last_error_ = err;
    if (ftruncate(fd_, static_cast<off_t>(segment_size_)) == 0)
      lseek(fd_, static_cast<off_t>(segment_size_), SEEK_SET);
    if (err != EFBIG) return false;
    segment_size_ = segment_bytes_;  // force a new segment on the retry
  }
  return false;
}

bool SpillWriter::flush() {
  if (!buffer_.empty()) {
    if (!write_buffer()) {
      lost_chunks_ += buffered_chunks_;
      lost_since_flush_ = true;
    }
    buffer_.clear();
    buffered_chunks_ = 0;
    chunks_.clear();
  }
  bool ok = !lost_since_flush_;
  lost_since_flush_ = false;
  return ok;
}

}  // namespace viztrace::spill
