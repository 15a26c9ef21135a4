// The modules (ELF objects) each process image announced, and when each was mapped.
//
// The shim announces all of a process's modules at once, with one timestamp, when it makes its
// first function ring and again whenever the loader has loaded or unloaded something since
// (shim/functions.h). A module missing from an announcement was unloaded before it, and
// one that first appears in an announcement was loaded after the one before: so a library
// closed and another loaded at its address each keep the calls of their own time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace viztrace::report {

struct Module {
  std::uint64_t bias = 0, low = 0, high = 0;  // see vt_module
  std::string path;
  // Its code ran within [from, until) (ns): from the announcement before the first that listed
  // it, to the first after that did not.
  std::uint64_t from = 0, until = UINT64_MAX;
};

struct ImageModules {
  std::vector<Module> modules;
  // For each ELF object, its entries in modules (one per time it was loaded), in time order:
  // find() looks at a few objects, not at every load of each.
  std::vector<std::vector<std::uint32_t>> loads;
  // Address ranges [low, high) that passed from one module to another, sorted and apart; and
  // the times at which a module within them came or went, sorted. Between two changes, every
  // address has one module. Both empty in the common case.
  std::vector<std::pair<std::uint64_t, std::uint64_t>> contested;
  std::vector<std::uint64_t> changes;

  // The module holding addr at ts: the one mapped there then, else the one mapped there
  // nearest in time; null when none ever held it.
  const Module* find(std::uint64_t addr, std::uint64_t ts) const;
  // Which stretch between changes ts lies in, for an address in a contested range; else 0.
  // Records of one address and era are in one module.
  std::uint32_t era(std::uint64_t addr, std::uint64_t ts) const;
};

// By image_key(pid, image).
using ModuleMap = std::unordered_map<std::uint64_t, ImageModules>;
inline std::uint64_t image_key(std::uint32_t pid, std::uint32_t image) {
  return std::uint64_t{pid} << 32 | image;
}

// Collects announcements as the spill is read, in any order.
class ModuleHistory {
 public:
  // One module of the announcement made at ts by image `key` (from, until ignored).
  void add(std::uint64_t key, std::uint64_t ts, const Module& module);
  ModuleMap modules() const;

 private:
  using Identity = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t, std::string>;
  struct Image {
    std::vector<Module> distinct;
    std::map<Identity, std::uint32_t> index;  // into distinct
    // Announcements by time: which of distinct each listed (a few per process in practice).
    std::map<std::uint64_t, std::vector<std::uint32_t>> announcements;
  };
  std::unordered_map<std::uint64_t, Image> images_;
};

}  // namespace viztrace::report
