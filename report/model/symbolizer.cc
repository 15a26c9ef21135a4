#include "report/model/symbolizer.h"

#include <cxxabi.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <string_view>
#include <type_traits>
#include <vector>

#ifdef VIZTRACE_HAVE_LIBDW
#include <dwarf.h>

#include "report/model/libdw.h"
#endif

namespace viztrace::report {
namespace {

// A function of the table: its range and where its name starts in ElfFile::names.
struct Function {
  std::uint64_t addr;
  std::uint64_t size;  // 0: unknown, the function reaches up to the next one
  std::uint32_t name;
};

// An open file descriptor, closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads exactly [off, off+len) of a file of `file_size` bytes into `out`; false on any error.
bool read_at(int fd, std::uint64_t file_size, std::uint64_t off, std::uint64_t len, void* out) {
  if (off > file_size || len > file_size - off) return false;
  auto* p = static_cast<char*>(out);
  std::uint64_t done = 0;
  while (done < len) {
    ssize_t n =
        pread(fd, p + done, static_cast<std::size_t>(len - done), static_cast<off_t>(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::uint64_t>(n);
  }
  return true;
}

// Among symbols at one address the one named: GLOBAL, then WEAK, then LOCAL.
int binding_rank(unsigned char info) {
  switch (ELF64_ST_BIND(info)) {
    case STB_GLOBAL:
    case STB_GNU_UNIQUE:
      return 0;
    case STB_WEAK:
      return 1;
    case STB_LOCAL:
      return 2;
    default:
      return 3;
  }
}

// Full demangling of an Itanium C++ name ("_Z..."), keeping any "@VERSION" suffix; anything
// else, including a name the demangler rejects, stays as it is. Bare names are not offered to
// the demangler: it also decodes types, and would turn a C function `f` into "float".
std::string demangle(std::string_view name) {
  std::string_view mangled = name.substr(0, name.find('@'));
  if (!mangled.starts_with("_Z")) return std::string(name);
  std::string z(mangled);
  int status = 0;
  char* out = abi::__cxa_demangle(z.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) {
    std::free(out);
    return std::string(name);
  }
  std::string result(out);
  std::free(out);
  result += name.substr(mangled.size());
  return result;
}

#ifdef VIZTRACE_HAVE_LIBDW
// The DWARF line table of one file, read through libelf's own read-only mapping of it (the
// descriptor is not kept). Files without DWARF keep nothing.
class DwarfLines {
 public:
  explicit DwarfLines(int fd) : dw_(libdw()) {
    if (dw_ == nullptr) return;
    elf_ = dw_->elf_begin(fd, ELF_C_READ_MMAP, nullptr);
    if (elf_ == nullptr) return;
    dwarf_ = dw_->dwarf_begin_elf(elf_, DWARF_C_READ, nullptr);
    if (dwarf_ == nullptr) {
      dw_->elf_end(elf_);
      elf_ = nullptr;
      return;
    }
    dw_->elf_cntl(elf_, ELF_C_FDDONE);  // all reads come from the mapping from here on
  }
  ~DwarfLines() {
    if (dwarf_ != nullptr) dw_->dwarf_end(dwarf_);
    if (elf_ != nullptr) dw_->elf_end(elf_);
  }
  DwarfLines(const DwarfLines&) = delete;
  DwarfLines& operator=(const DwarfLines&) = delete;

  void find(std::uint64_t vaddr, Symbol& out) {
    if (dwarf_ == nullptr) return;
    Dwarf_Die cu;
    if (!find_cu(vaddr, cu)) return;
    Dwarf_Line* row = dw_->dwarf_getsrc_die(&cu, vaddr);
    if (row == nullptr) return;
    const char* src = dw_->dwarf_linesrc(row, nullptr, nullptr);
    int line = 0;
    if (src == nullptr || dw_->dwarf_lineno(row, &line) != 0 || line < 0) return;
    out.file = src;
    out.line = static_cast<std::uint32_t>(line);
  }

  // The functions inlined at vaddr, innermost first, as DWARF describes them (its inlined
  // subroutines' scopes), each with where it is declared.
  void inlined(std::uint64_t vaddr, std::vector<InlinedFunction>& out) {
    if (dwarf_ == nullptr) return;
    Dwarf_Die cu;
    if (!find_cu(vaddr, cu)) return;
    // dwarf_getscopes goes from an inlined subroutine into its abstract definition's scopes;
    // the callers are the scopes that contain the innermost one in the tree.
    Dwarf_Die* found = nullptr;
    int n = dw_->dwarf_getscopes(&cu, vaddr, &found);
    int innermost = 0;
    while (innermost < n && dw_->dwarf_tag(&found[innermost]) != DW_TAG_inlined_subroutine)
      ++innermost;
    Dwarf_Die* scopes = nullptr;
    n = innermost < n ? dw_->dwarf_getscopes_die(&found[innermost], &scopes) : 0;
    std::free(found);
    Dwarf_Files* files = nullptr;
    std::size_t nfiles = 0;
    for (int i = 0; i < n; ++i) {
      const int tag = dw_->dwarf_tag(&scopes[i]);
      if (tag == DW_TAG_subprogram) break;  // the function lookup() names
      if (tag != DW_TAG_inlined_subroutine) continue;
      InlinedFunction f;
      Dwarf_Attribute attr;
      const char* name = nullptr;
      if (dw_->dwarf_attr_integrate(&scopes[i], DW_AT_linkage_name, &attr))
        name = dw_->dwarf_formstring(&attr);
      if (name == nullptr && dw_->dwarf_attr_integrate(&scopes[i], DW_AT_name, &attr))
        name = dw_->dwarf_formstring(&attr);
      if (name == nullptr) continue;
      f.name = demangle(name);
      Dwarf_Word file = 0, line = 0;
      if (dw_->dwarf_attr_integrate(&scopes[i], DW_AT_decl_file, &attr) &&
          dw_->dwarf_formudata(&attr, &file) == 0 &&
          dw_->dwarf_attr_integrate(&scopes[i], DW_AT_decl_line, &attr) &&
          dw_->dwarf_formudata(&attr, &line) == 0 &&
          (files != nullptr || dw_->dwarf_getsrcfiles(&cu, &files, &nfiles) == 0) &&
          file < nfiles) {
        if (const char* src = dw_->dwarf_filesrc(files, file, nullptr, nullptr)) {
          f.file = src;
          f.line = static_cast<std::uint32_t>(line);
        }
      }
      out.push_back(std::move(f));
    }
    std::free(scopes);
  }

 private:
  // Through .debug_aranges when the file has it (GCC's default), else by asking every unit.
  bool find_cu(std::uint64_t vaddr, Dwarf_Die& cu) {
    if (dw_->dwarf_addrdie(dwarf_, vaddr, &cu) != nullptr) return true;
    Dwarf_CU* unit = nullptr;
    std::uint8_t unit_type = 0;
    while (dw_->dwarf_get_units(dwarf_, unit, &unit, nullptr, &unit_type, &cu, nullptr) == 0)
      if (dw_->dwarf_haspc(&cu, vaddr) > 0) return true;
    return false;
  }

  const LibDw* dw_;
  Elf* elf_ = nullptr;
  Dwarf* dwarf_ = nullptr;
};
#endif

}  // namespace

struct Symbolizer::ElfFile {
  std::vector<Function> functions;  // sorted by addr, one per address
  std::string names;                // the NUL-terminated names of `functions`, nothing else
  std::unordered_map<std::uint64_t, Symbol> cache;
  std::unordered_map<std::uint64_t, std::vector<InlinedFunction>> inlined;
#ifdef VIZTRACE_HAVE_LIBDW
  std::unique_ptr<DwarfLines> lines;
#endif

  // Fills the function table from an ELF64 little-endian executable or shared object: .symtab,
  // or .dynsym when the file is stripped. False, and an empty table, for anything else.
  bool read(int fd, std::uint64_t file_size);

 private:
  bool read_functions(int fd, std::uint64_t file_size, const std::vector<Elf64_Shdr>& sections,
                      const Elf64_Shdr& table);
};

bool Symbolizer::ElfFile::read(int fd, std::uint64_t file_size) {
  if constexpr (std::endian::native != std::endian::little) return false;
  Elf64_Ehdr eh;
  if (!read_at(fd, file_size, 0, sizeof eh, &eh)) return false;
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB || (eh.e_type != ET_EXEC && eh.e_type != ET_DYN))
    return false;
  if (eh.e_shoff == 0 || eh.e_shentsize != sizeof(Elf64_Shdr)) return false;

  // More than SHN_LORESERVE sections: the count is in the first section header.
  std::uint64_t count = eh.e_shnum;
  if (count == 0) {
    Elf64_Shdr first;
    if (!read_at(fd, file_size, eh.e_shoff, sizeof first, &first)) return false;
    count = first.sh_size;
  }
  if (count == 0 || count > file_size / sizeof(Elf64_Shdr)) return false;
  std::vector<Elf64_Shdr> sections(static_cast<std::size_t>(count));
  if (!read_at(fd, file_size, eh.e_shoff, count * sizeof(Elf64_Shdr), sections.data()))
    return false;

  for (std::uint32_t type : {SHT_SYMTAB, SHT_DYNSYM})
    for (const Elf64_Shdr& s : sections)
      if (s.sh_type == type && read_functions(fd, file_size, sections, s)) return true;
  return false;
}

// The STT_FUNC and STT_GNU_IFUNC symbols defined in `table`, one per address; false if none.
bool Symbolizer::ElfFile::read_functions(int fd, std::uint64_t file_size,
                                         const std::vector<Elf64_Shdr>& sections,
                                         const Elf64_Shdr& table) {
  if (table.sh_entsize != sizeof(Elf64_Sym) || table.sh_link >= sections.size()) return false;
  const Elf64_Shdr& strtab = sections[table.sh_link];
  if (strtab.sh_type != SHT_STRTAB || table.sh_size > file_size || strtab.sh_size > file_size)
    return false;
  std::string strings(static_cast<std::size_t>(strtab.sh_size), '\0');
  if (!read_at(fd, file_size, strtab.sh_offset, strtab.sh_size, strings.data())) return false;
  std::vector<Elf64_Sym> symbols(static_cast<std::size_t>(table.sh_size / sizeof(Elf64_Sym)));
  if (!read_at(fd, file_size, table.sh_offset, symbols.size() * sizeof(Elf64_Sym), symbols.data()))
    return false;

  struct Candidate {
    std::uint64_t addr, size;
    int rank;
    std::string_view name;
  };
  std::vector<Candidate> found;
  for (const Elf64_Sym& sym : symbols) {
    unsigned type = ELF64_ST_TYPE(sym.st_info);
    if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_value == 0 ||
        sym.st_shndx == SHN_UNDEF || sym.st_name >= strings.size())
      continue;
    // strnlen: the table need not end in a NUL.
    const char* name = strings.data() + sym.st_name;
    std::string_view view(name, strnlen(name, strings.size() - sym.st_name));
    if (view.empty()) continue;
    found.push_back({sym.st_value, sym.st_size, binding_rank(sym.st_info), view});
  }
  symbols = {};
  if (found.empty()) return false;

  // Aliases: the best binding, then a known size, then the smallest name.
  std::sort(found.begin(), found.end(), [](const Candidate& a, const Candidate& b) {
    if (a.addr != b.addr) return a.addr < b.addr;
    if (a.rank != b.rank) return a.rank < b.rank;
    if ((a.size != 0) != (b.size != 0)) return a.size != 0;
    if (a.name != b.name) return a.name < b.name;
    return a.size < b.size;
  });
  functions.clear();
  names.clear();
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (i > 0 && found[i].addr == found[i - 1].addr) continue;
    if (names.size() + found[i].name.size() + 1 > UINT32_MAX) break;
    functions.push_back({found[i].addr, found[i].size, static_cast<std::uint32_t>(names.size())});
    names.append(found[i].name);
    names.push_back('\0');
  }
  functions.shrink_to_fit();
  names.shrink_to_fit();
  return true;
}

Symbolizer::Symbolizer() = default;
Symbolizer::~Symbolizer() = default;

bool Symbolizer::has_source_lines() {
#ifdef VIZTRACE_HAVE_LIBDW
  return libdw() != nullptr;
#else
  return false;
#endif
}

std::string Symbolizer::fallback_name(const std::string& path, std::uint64_t vaddr) {
  std::size_t slash = path.rfind('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  char hex[24];
  std::snprintf(hex, sizeof hex, "+0x%llx", static_cast<unsigned long long>(vaddr));
  return name + hex;
}

const Symbol& Symbolizer::lookup(const std::string& path, std::uint64_t vaddr) {
  auto file = files_.find(path);
  if (file == files_.end()) {
    auto elf = std::make_unique<ElfFile>();
    Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st;
    if (fd.get() >= 0 && fstat(fd.get(), &st) == 0 && S_ISREG(st.st_mode)) {
      bool ok = false;
      try {
        ok = elf->read(fd.get(), static_cast<std::uint64_t>(st.st_size));
      } catch (const std::exception&) {  // a corrupt size asking for too much memory
      }
      if (!ok) {
        elf->functions = {};
        elf->names = {};
      }
#ifdef VIZTRACE_HAVE_LIBDW
      if (ok) elf->lines = std::make_unique<DwarfLines>(fd.get());
#endif
    }
    file = files_.emplace(path, std::move(elf)).first;
  }

  ElfFile& elf = *file->second;
  auto [cached, fresh] = elf.cache.try_emplace(vaddr);
  Symbol& sym = cached->second;
  if (!fresh) return sym;
  auto next = std::upper_bound(elf.functions.begin(), elf.functions.end(), vaddr,
                               [](std::uint64_t a, const Function& f) { return a < f.addr; });
  if (next != elf.functions.begin()) {
    const Function& f = *std::prev(next);
    if (f.size == 0 || vaddr - f.addr < f.size) {
      sym.name = demangle(elf.names.c_str() + f.name);
      sym.resolved = true;
      sym.start = f.addr;
    }
  }
  if (!sym.resolved) sym.name = fallback_name(path, vaddr);
#ifdef VIZTRACE_HAVE_LIBDW
  if (elf.lines) elf.lines->find(vaddr, sym);
#endif
  return sym;
}

const std::vector<InlinedFunction>& Symbolizer::inlined(const std::string& path,
                                                        std::uint64_t vaddr) {
  lookup(path, vaddr);  // reads the file when new
  ElfFile& elf = *files_.find(path)->second;
  auto [cached, fresh] = elf.inlined.try_emplace(vaddr);
#ifdef VIZTRACE_HAVE_LIBDW
  if (fresh && elf.lines) elf.lines->inlined(vaddr, cached->second);
#else
  (void)fresh;
#endif
  return cached->second;
}

}  // namespace viztrace::report
