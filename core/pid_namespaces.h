// Places processes that run inside PID namespaces (unshare -p, bubblewrap, Bazel's and Nix's
// sandboxes, rootless containers) under the pids of viztrace's own namespace.
//
// A traced process names itself, its threads, its parent and its children with the pids it
// sees. A process in another namespace says hello before its first chunk, and the kernel tells
// the collector who sent the hello, in the collector's namespace (see VT_HELLO_NAME); when
// that differs from the chunk's pid, the sender is in another namespace, and everything the
// chunk names is translated before it is spilled: the header's pid and tid, the children of
// fork, spawn and reap records, the parent of start and exec records (which keep the process's
// own pid as ns_pid), and named threads. Namespaces are told apart by /proc/<pid>/ns/pid; pids
// within one are looked up from what its processes sent and from /proc/<pid>/status (NSpid).
// What cannot be resolved any more (a child already reaped whose own chunks never came) is
// left out of the record as pid 0 rather than guessed.
#pragma once

#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

namespace viztrace {

class PidNamespaces {
 public:
  // Translates the chunk at p (a valid records chunk) sent by process `sender` (its pid in our
  // namespace, from its hello; the chunk's own pid when it sent none). Returns the pid
  // and tid the chunk had (function ring files are named after those).
  struct Original {
    std::uint32_t pid, tid;
  };
  Original translate(unsigned char* p, std::uint32_t sender);

  // How many pids inside records could not be translated.
  std::uint64_t unresolved() const { return unresolved_; }

 private:
  struct Proc {
    std::uint32_t inner = 0;  // its pid in its own namespace
    std::uint64_t ns = 0;     // its namespace (inode, or a key of ours when that is unknown)
    std::uint32_t level = 0;  // how deep its namespace is below ours (0: unknown)
    std::uint32_t image = 0;  // the image it was first seen with
  };
  using Key = std::pair<std::uint64_t, std::uint32_t>;  // (namespace, pid in it)

  const Proc& learn(std::uint32_t sender, std::uint32_t inner, std::uint32_t image);
  // The outer pid of `inner` in proc's namespace, or 0. child: look among sender's children.
  std::uint32_t outer_pid(std::uint32_t sender, const Proc& proc, std::uint32_t inner, bool child,
                          std::uint32_t image);
  // A process gone before its namespace was known, named by `inner` in a record of process
  // `image` of namespace `proc`: its fork or vfork child (same image, or the vfork nonce).
  std::uint32_t adopt(const Proc& proc, std::uint32_t inner, std::uint32_t image);
  std::uint32_t outer_tid(std::uint32_t sender, const Proc& proc, std::uint32_t tid);

  std::unordered_map<std::uint32_t, Proc> procs_;  // by outer pid
  std::map<Key, std::uint32_t> outer_;             // pids of other namespaces -> ours
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t> tids_;  // (pid, tid) -> ours
  std::unordered_map<std::uint32_t, std::uint32_t> image_owner_;  // image nonce -> first sender
  std::vector<std::uint32_t> unplaced_;  // outer pids whose namespace is a key of ours
  std::uint64_t next_key_ = 1;
  std::uint64_t unresolved_ = 0;
};

}  // namespace viztrace
