// The preload library stays C-level: whatever compiler links it, it needs libc and nothing of
// C++'s runtime (libstdc++ costs every exec of a traced program ~0.4 ms to load).
#include <elf.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace {

// The DT_NEEDED entries of an ELF64 shared library.
std::vector<std::string> needed_libraries(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(file.size() >= sizeof(Elf64_Ehdr));
  Elf64_Ehdr eh;
  std::memcpy(&eh, file.data(), sizeof eh);
  REQUIRE(std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0);
  REQUIRE(eh.e_ident[EI_CLASS] == ELFCLASS64);
  auto section = [&](std::size_t i) {
    Elf64_Shdr sh;
    REQUIRE(eh.e_shoff + (i + 1) * sizeof sh <= file.size());
    std::memcpy(&sh, file.data() + eh.e_shoff + i * sizeof sh, sizeof sh);
    return sh;
  };
  std::vector<std::string> needed;
  for (std::size_t i = 0; i < eh.e_shnum; ++i) {
    const Elf64_Shdr dynamic = section(i);
    if (dynamic.sh_type != SHT_DYNAMIC) continue;
    const Elf64_Shdr strings = section(dynamic.sh_link);
    for (std::size_t off = 0; off + sizeof(Elf64_Dyn) <= dynamic.sh_size;
         off += sizeof(Elf64_Dyn)) {
      Elf64_Dyn d;
      std::memcpy(&d, file.data() + dynamic.sh_offset + off, sizeof d);
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_NEEDED) needed.emplace_back(file.data() + strings.sh_offset + d.d_un.d_val);
    }
  }
  return needed;
}

}  // namespace

TEST_CASE("shim library: it needs libc only, never C++'s runtime") {
  const std::vector<std::string> needed = needed_libraries(SHIM_FILE);
  INFO(SHIM_FILE);
  CHECK(needed == std::vector<std::string>{"libc.so.6"});
}
