// Symbolizer against real ELF files compiled at test time: a PIE executable, a shared library,
// its stripped copy, a file of 100k functions; expected addresses come from `nm`.
#include "report/model/symbolizer.h"

#include <stdio.h>
#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "test/skip.h"

using viztrace::report::Symbol;
using viztrace::report::Symbolizer;

namespace {

// Namespaces, a template for two types, two overloads, extern "C", a static function, aliases,
// and a sized function followed by padding (vt_after is aligned far away from vt_sized's end).
const char* const kShapes = R"(namespace geo {
template <typename T>
struct Box {
  T w, h;
  T area(T scale) const;
};
template <typename T>
T Box<T>::area(T scale) const { return w * h * scale; }
template struct Box<long>;
template struct Box<double>;
namespace shapes {
int count(int n);
int count(const char* s);
}  // namespace shapes
}  // namespace geo

static int vt_local_helper(int x) { return x * 3 + 1; }
int geo::shapes::count(int n) { return vt_local_helper(n); }
int geo::shapes::count(const char* s) { return s ? vt_local_helper(*s) : 0; }
extern "C" int vt_plain_c(int x) { return x + 1; }

static int vt_impl(int x) { return x - 1; }
extern "C" int vt_weak_alias(int) __attribute__((weak, alias("_ZL7vt_impli")));
extern "C" int vt_public_alias(int) __attribute__((alias("_ZL7vt_impli")));

extern "C" int vt_sized(int x) { return x * 7; }
extern "C" __attribute__((aligned(256))) int vt_after(int x) { return x * 5; }
)";

const char* const kMain = R"(namespace geo {
template <typename T> struct Box { T w, h; T area(T scale) const; };
namespace shapes { int count(int n); int count(const char* s); }
}
extern "C" int vt_plain_c(int x);
int main(int argc, char** argv) {
  geo::Box<long> b{2, 3};
  geo::Box<double> d{1.5, 2};
  return static_cast<int>(b.area(argc) + d.area(1)) + geo::shapes::count(argc) +
         geo::shapes::count(argv[0]) + vt_plain_c(argc);
}
)";

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    const char* t = std::getenv("TMPDIR");
    std::string templ = std::string(t && *t ? t : "/tmp") + "/vt-symbolizer-XXXXXX";
    std::vector<char> buf(templ.begin(), templ.end());
    buf.push_back('\0');
    REQUIRE(mkdtemp(buf.data()) != nullptr);
    path_ = buf.data();
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string file(const std::string& name) const { return path_ + "/" + name; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
  }

 private:
  std::string path_;
};

// Runs a shell command, returns its stdout; fails the test on a nonzero exit.
std::string run(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  INFO(command);
  REQUIRE(status == 0);
  return out;
}

struct NmSymbol {
  std::uint64_t addr = 0, size = 0;
  char type = 0;
};

// The defined symbols of `path` by demangled name, as `nm -C -S` prints them.
std::map<std::string, NmSymbol> nm(const std::string& path) {
  std::map<std::string, NmSymbol> out;
  std::istringstream lines(run("nm -C -S --defined-only '" + path + "'"));
  std::string line;
  while (std::getline(lines, line)) {
    // "addr size type name" or, without a size, "addr type name".
    std::istringstream in(line);
    std::string addr, second, third;
    in >> addr >> second >> third;
    NmSymbol s;
    s.addr = std::stoull(addr, nullptr, 16);
    std::string name;
    if (second.size() == 1) {
      s.type = second[0];
      name = third;
    } else {
      s.size = std::stoull(second, nullptr, 16);
      s.type = third[0];
    }
    std::string rest;
    std::getline(in, rest);
    if (name.empty())
      name = rest.substr(1);
    else
      name += rest;
    out[name] = s;
  }
  return out;
}

// The 1-based line of `source` that contains `text`.
std::uint32_t line_of(const std::string& source, const std::string& text) {
  std::size_t at = source.find(text);
  REQUIRE(at != std::string::npos);
  return 1 + static_cast<std::uint32_t>(std::count(source.begin(), source.begin() + at, '\n'));
}

std::string hex(std::uint64_t v) {
  std::ostringstream s;
  s << std::hex << v;
  return s.str();
}

// The shared library, the PIE executable and the stripped library, built once per test case.
struct Fixture {
  ScratchDir dir;
  std::string lib = dir.file("libshapes.so");
  std::string app = dir.file("app");
  std::string stripped = dir.file("libshapes-stripped.so");
  Fixture() {
    dir.write("shapes.cpp", kShapes);
    dir.write("main.cpp", kMain);
    const std::string cc = "g++ -std=c++17 -O0 -g -fno-toplevel-reorder ";
    run(cc + "-fPIC -shared -o '" + lib + "' '" + dir.file("shapes.cpp") + "'");
    run(cc + "-fPIE -pie -o '" + app + "' '" + dir.file("main.cpp") + "' '" +
        dir.file("shapes.cpp") + "'");
    run("strip -o '" + stripped + "' '" + lib + "'");
  }
};

const std::vector<std::string> kNames = {"geo::Box<long>::area(long) const",
                                         "geo::Box<double>::area(double) const",
                                         "geo::shapes::count(int)",
                                         "geo::shapes::count(char const*)",
                                         "vt_plain_c",
                                         "vt_local_helper(int)"};

}  // namespace

TEST_CASE("symbolizer: demangled names in a shared library and a PIE executable", "[symbolizer]") {
  Fixture fx;
  Symbolizer symbolizer;
  for (const std::string& path : {fx.lib, fx.app}) {
    auto expected = nm(path);
    for (const std::string& name : kNames) {
      INFO(path << ": " << name);
      REQUIRE(expected.count(name) == 1);
      const NmSymbol& s = expected[name];
      REQUIRE(s.size > 1);
      CHECK(symbolizer.lookup(path, s.addr).name == name);
      CHECK(symbolizer.lookup(path, s.addr).resolved);
      CHECK(symbolizer.lookup(path, s.addr + s.size - 1).name == name);
    }
    CHECK(expected.count("main") == (path == fx.app ? 1u : 0u));
    if (path == fx.app) CHECK(symbolizer.lookup(path, expected["main"].addr).name == "main");
  }
  CHECK(symbolizer.files_read() == 2);
}

TEST_CASE("symbolizer: aliases name the global symbol, then the weak one", "[symbolizer]") {
  Fixture fx;
  auto expected = nm(fx.lib);
  REQUIRE(expected.count("vt_impl(int)") == 1);
  REQUIRE(expected["vt_public_alias"].addr == expected["vt_impl(int)"].addr);
  REQUIRE(expected["vt_weak_alias"].addr == expected["vt_impl(int)"].addr);
  Symbolizer symbolizer;
  CHECK(symbolizer.lookup(fx.lib, expected["vt_impl(int)"].addr).name == "vt_public_alias");
  CHECK(symbolizer.lookup(fx.stripped, expected["vt_impl(int)"].addr).name == "vt_public_alias");
}

TEST_CASE("symbolizer: a stripped library still names what it exports, from .dynsym",
          "[symbolizer]") {
  Fixture fx;
  auto expected = nm(fx.lib);
  REQUIRE(run("nm '" + fx.stripped + "' 2>&1 || true").find("no symbols") != std::string::npos);
  Symbolizer symbolizer;
  for (const std::string& name : kNames) {
    INFO(name);
    const Symbol& sym = symbolizer.lookup(fx.stripped, expected[name].addr);
    if (name == "vt_local_helper(int)") {
      CHECK(sym.name == "libshapes-stripped.so+0x" + hex(expected[name].addr));
      CHECK_FALSE(sym.resolved);
    } else {
      CHECK(sym.name == name);
      CHECK(sym.resolved);
    }
    CHECK(sym.file.empty());
    CHECK(sym.line == 0);
  }
}

TEST_CASE("symbolizer: an address past the end of a sized function falls back", "[symbolizer]") {
  Fixture fx;
  auto expected = nm(fx.lib);
  const NmSymbol& sized = expected["vt_sized"];
  std::uint64_t end = sized.addr + sized.size;
  REQUIRE(sized.size > 0);
  REQUIRE(end < expected["vt_after"].addr);  // padding from the alignment
  for (const auto& [name, s] : expected) REQUIRE((s.addr <= sized.addr || s.addr > end));
  Symbolizer symbolizer;
  CHECK(symbolizer.lookup(fx.lib, end - 1).name == "vt_sized");
  const Symbol& past = symbolizer.lookup(fx.lib, end);
  CHECK(past.name == "libshapes.so+0x" + hex(end));
  CHECK_FALSE(past.resolved);
  CHECK(symbolizer.lookup(fx.lib, expected["vt_after"].addr).name == "vt_after");
  // Below the first function there is nothing either.
  CHECK(symbolizer.lookup(fx.lib, 1).name == "libshapes.so+0x1");
}

TEST_CASE("symbolizer: missing, non-ELF, 32-bit and truncated files fall back", "[symbolizer]") {
  ScratchDir dir;
  dir.write("notes.txt", "not an ELF file at all\n");
  std::string elf32(64, '\0');
  elf32.replace(0, 5,
                "\x7f"
                "ELF\x01");  // ELFCLASS32
  dir.write("lib32.so", elf32);
  dir.write("libshort.so",
            "\x7f"
            "ELF\x02\x01");
  Symbolizer symbolizer;
  const Symbol& missing = symbolizer.lookup(dir.file("nowhere/libnope.so"), 0x1a2b);
  CHECK(missing.name == "libnope.so+0x1a2b");
  CHECK_FALSE(missing.resolved);
  CHECK(missing.file.empty());
  CHECK(missing.line == 0);
  CHECK(symbolizer.lookup(dir.file("notes.txt"), 0x10).name == "notes.txt+0x10");
  CHECK(symbolizer.lookup(dir.file("lib32.so"), 0xff).name == "lib32.so+0xff");
  CHECK(symbolizer.lookup(dir.file("libshort.so"), 0).name == "libshort.so+0x0");
  CHECK(symbolizer.lookup(dir.file(""), 0x20).name == "+0x20");  // a directory
  CHECK(symbolizer.lookup("plain", 0x30).name == "plain+0x30");
  CHECK(Symbolizer::fallback_name("/a/b/libc.so.6", 0xdeadbeef) == "libc.so.6+0xdeadbeef");
}

TEST_CASE("symbolizer: a truncated copy of a real library falls back without crashing",
          "[symbolizer]") {
  Fixture fx;
  auto expected = nm(fx.lib);
  auto size = std::filesystem::file_size(fx.lib);
  Symbolizer symbolizer;
  for (std::uintmax_t keep : {size / 2, size - 100, size - 1}) {
    std::string cut = fx.dir.file("cut-" + std::to_string(keep) + ".so");
    std::filesystem::copy_file(fx.lib, cut);
    std::filesystem::resize_file(cut, keep);
    const Symbol& sym = symbolizer.lookup(cut, expected["vt_plain_c"].addr);
    INFO(keep);
    CHECK((sym.name == "vt_plain_c" || sym.name.find("+0x") != std::string::npos));
  }
}

TEST_CASE("symbolizer: each file is read once and results are cached", "[symbolizer]") {
  Fixture fx;
  auto expected = nm(fx.lib);
  Symbolizer symbolizer;
  const Symbol& first = symbolizer.lookup(fx.lib, expected["vt_plain_c"].addr);
  for (int round = 0; round < 3; ++round)
    for (const auto& [name, s] : expected)
      for (std::uint64_t off = 0; off < 8; ++off) symbolizer.lookup(fx.lib, s.addr + off);
  CHECK(&symbolizer.lookup(fx.lib, expected["vt_plain_c"].addr) == &first);
  CHECK(first.name == "vt_plain_c");
  CHECK(symbolizer.files_read() == 1);
  symbolizer.lookup(fx.dir.file("missing.so"), 1);
  symbolizer.lookup(fx.dir.file("missing.so"), 2);
  CHECK(symbolizer.files_read() == 2);
}

TEST_CASE("symbolizer: source file and line from DWARF", "[symbolizer]") {
  if (!Symbolizer::has_source_lines()) {
    VT_SKIP("built without libdw: no source lines");
  }
  Fixture fx;
  Symbolizer symbolizer;
  for (const std::string& path : {fx.lib, fx.app}) {
    auto expected = nm(path);
    INFO(path);
    const Symbol& count = symbolizer.lookup(path, expected["geo::shapes::count(int)"].addr);
    CHECK(count.file == fx.dir.file("shapes.cpp"));
    CHECK(count.line == line_of(kShapes, "int geo::shapes::count(int n)"));
    const Symbol& area =
        symbolizer.lookup(path, expected["geo::Box<double>::area(double) const"].addr);
    CHECK(area.file == fx.dir.file("shapes.cpp"));
    CHECK(area.line == line_of(kShapes, "T Box<T>::area(T scale) const {"));
  }
  // Without .debug_aranges the unit holding the address is found by asking each unit.
  std::string no_aranges = fx.dir.file("libshapes-no-aranges.so");
  run("objcopy --remove-section .debug_aranges '" + fx.lib + "' '" + no_aranges + "'");
  REQUIRE(run("readelf -S '" + no_aranges + "'").find(".debug_aranges") == std::string::npos);
  const Symbol& count = symbolizer.lookup(no_aranges, nm(fx.lib)["geo::shapes::count(int)"].addr);
  CHECK(count.name == "geo::shapes::count(int)");
  CHECK(count.file == fx.dir.file("shapes.cpp"));
  CHECK(count.line == line_of(kShapes, "int geo::shapes::count(int n)"));

  auto expected = nm(fx.app);
  const Symbol& main = symbolizer.lookup(fx.app, expected["main"].addr);
  CHECK(main.file == fx.dir.file("main.cpp"));
  CHECK(main.line == line_of(kMain, "int main("));
}

TEST_CASE("symbolizer: a file with 100k functions", "[symbolizer]") {
  ScratchDir dir;
  const int n = 100000;
  {
    std::ofstream s(dir.file("many.s"));
    s << ".text\n";
    for (int i = 0; i < n; ++i) {
      std::string name = "f" + std::to_string(i);
      std::string z = "_Z" + std::to_string(name.size()) + name + "v";  // name()
      s << ".globl " << z << "\n.type " << z << ",@function\n"
        << z << ":\nret\n.size " << z << ",1\nnop\n";
    }
  }
  std::string lib = dir.file("libmany.so");
  run("gcc -shared -nostdlib -o '" + lib + "' '" + dir.file("many.s") + "'");
  auto expected = nm(lib);
  Symbolizer symbolizer;
  for (int i : {0, 1, 4242, 77777, n - 1}) {
    std::string name = "f" + std::to_string(i) + "()";
    INFO(name);
    REQUIRE(expected.count(name) == 1);
    CHECK(symbolizer.lookup(lib, expected[name].addr).name == name);
    CHECK_FALSE(symbolizer.lookup(lib, expected[name].addr + 1).resolved);  // the nop
  }
  CHECK(symbolizer.files_read() == 1);
}
