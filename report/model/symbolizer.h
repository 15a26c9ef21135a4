// Symbolizer: turns an address inside an ELF file (the `this_fn` that -finstrument-functions
// reports, minus the module's load bias) into a function name, and into a source file and line
// when the file has DWARF and viztrace was built with libdw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace viztrace::report {

struct Symbol {
  std::string name;  // demangled in full: "geo::Box<long>::area(long) const"; or "libfoo.so+0x1a2b"
  std::string file;  // source file from DWARF, "" when unknown
  std::uint32_t line = 0;  // 0 when unknown
  bool resolved = false;   // false: name is the module+0xoffset fallback
  std::uint64_t start = 0;  // resolved: the function's first address (link-time)
};

// A function inlined into another at some address: it has no frame of its own.
struct InlinedFunction {
  std::string name;  // demangled
  std::string file;  // where DWARF says it is declared; "" unknown
  std::uint32_t line = 0;
};

// One instance per report; not thread-safe. Each ELF file is read once, keeping only its sorted
// function table and the names in it (plus, with libdw, a read-only mapping of the file for
// DWARF lines); results are cached per (path, vaddr), so references stay valid for the
// Symbolizer's lifetime.
class Symbolizer {
 public:
  Symbolizer();
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // The function containing `vaddr`, a link-time virtual address inside the ELF file at `path`.
  // Never throws: an unreadable or non-ELF file, or an address outside every function, gives the
  // fallback "<basename>+0x<hex vaddr>" with resolved == false.
  const Symbol& lookup(const std::string& path, std::uint64_t vaddr);

  // The functions inlined at vaddr (in the function lookup() names), innermost first; empty
  // without DWARF or without libdw.
  const std::vector<InlinedFunction>& inlined(const std::string& path, std::uint64_t vaddr);

  // Distinct paths opened and parsed so far (failed attempts included).
  std::size_t files_read() const { return files_.size(); }

  // Whether this build fills Symbol::file and Symbol::line (built with libdw).
  static bool has_source_lines();

  // "<basename of path>+0x<hex vaddr>".
  static std::string fallback_name(const std::string& path, std::uint64_t vaddr);

 private:
  struct ElfFile;  // the function table of one file, its DWARF handle and its cached results
  std::unordered_map<std::string, std::unique_ptr<ElfFile>> files_;
};

}  // namespace viztrace::report
