// exe_probe: how an executable is classified before exec (real files on disk), execvp-style
// PATH search, and the Go note seen through loaded program headers.
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/exe_probe.h"
#include "common/wire.h"
#include "test/skip.h"

using vt_shim::phdrs_mark_go;
using vt_shim::probe_exe;
using vt_shim::probe_exe_fd;
using vt_shim::search_path;

namespace {

// A fresh directory, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/vt-exe-probe-XXXXXX";
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs the test's body in another working directory, and comes back.
class InDir {
 public:
  explicit InDir(const std::string& dir) {
    REQUIRE(getcwd(saved_, sizeof saved_) != nullptr);
    REQUIRE(chdir(dir.c_str()) == 0);
  }
  ~InDir() { (void)!chdir(saved_); }
  InDir(const InDir&) = delete;
  InDir& operator=(const InDir&) = delete;

 private:
  char saved_[PATH_MAX];
};

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    REQUIRE(out);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    REQUIRE(out);
  }
  REQUIRE(chmod(path.c_str(), mode) == 0);
}

void copy_file(const std::string& from, const std::string& to, mode_t mode) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  REQUIRE(chmod(to.c_str(), mode) == 0);
}

bool have_cc() {
  return std::system("command -v cc >/dev/null 2>&1") == 0;
}

// A static (or static-pie) executable built now with cc; "" when the toolchain cannot.
std::string build_static(const TempDir& dir, const std::string& name, const char* flag) {
  if (!have_cc()) return "";
  std::string src = dir / (name + ".c");
  write_file(src, "int main(void) { return 0; }\n", 0644);
  std::string out = dir / name;
  std::string cmd = std::string("cc ") + flag + " -o '" + out + "' '" + src + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0 ? out : "";
}

#if defined(__x86_64__)
constexpr uint16_t kNativeMachine = EM_X86_64;
constexpr uint16_t kOtherMachine = EM_AARCH64;
#elif defined(__aarch64__)
constexpr uint16_t kNativeMachine = EM_AARCH64;
constexpr uint16_t kOtherMachine = EM_X86_64;
#else
#error "exe_probe tests know x86_64 and aarch64"
#endif

// An ELF note: name and descriptor each padded to 4 bytes.
std::string note(const std::string& name_with_nul, uint32_t type, const std::string& desc) {
  auto u32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  auto pad4 = [](std::string s) { return s.append((4 - s.size() % 4) % 4, '\0'); };
  return u32(static_cast<uint32_t>(name_with_nul.size())) +
         u32(static_cast<uint32_t>(desc.size())) + u32(type) + pad4(name_with_nul) + pad4(desc);
}

const std::string kGoNote = note(std::string("Go\0", 4), 4, "fake-go-build-id");
const std::string kGnuBuildId = note(std::string("GNU", 4), NT_GNU_BUILD_ID, std::string(20, 'x'));

// A minimal ELF64 executable image: header, program headers, then the notes (one PT_NOTE).
struct Elf64Image {
  bool interp = false;
  std::string notes;
  uint16_t machine = kNativeMachine;
  int phnum_override = -1;

  std::string bytes() const {
    std::vector<Elf64_Phdr> ph;
    const size_t phnum = 1 + (interp ? 1 : 0) + (notes.empty() ? 0 : 1);
    const size_t data_at = sizeof(Elf64_Ehdr) + phnum * sizeof(Elf64_Phdr);
    const std::string interp_path("/lib64/ld-linux-x86-64.so.2\0", 28);
    std::string data;
    Elf64_Phdr load{};
    load.p_type = PT_LOAD;
    load.p_flags = PF_R | PF_X;
    load.p_align = 0x1000;
    ph.push_back(load);
    if (interp) {
      Elf64_Phdr p{};
      p.p_type = PT_INTERP;
      p.p_offset = data_at + data.size();
      p.p_filesz = p.p_memsz = interp_path.size();
      data += interp_path;
      data.append((8 - data.size() % 8) % 8, '\0');
      ph.push_back(p);
    }
    if (!notes.empty()) {
      Elf64_Phdr p{};
      p.p_type = PT_NOTE;
      p.p_offset = data_at + data.size();
      p.p_filesz = p.p_memsz = notes.size();
      p.p_align = 4;
      data += notes;
      ph.push_back(p);
    }
    Elf64_Ehdr eh{};
    std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_type = ET_EXEC;
    eh.e_machine = machine;
    eh.e_version = EV_CURRENT;
    eh.e_phoff = sizeof(Elf64_Ehdr);
    eh.e_ehsize = sizeof(Elf64_Ehdr);
    eh.e_phentsize = sizeof(Elf64_Phdr);
    eh.e_phnum = static_cast<uint16_t>(phnum_override >= 0 ? phnum_override : int(ph.size()));
    std::string out(reinterpret_cast<const char*>(&eh), sizeof eh);
    out.append(reinterpret_cast<const char*>(ph.data()), ph.size() * sizeof(Elf64_Phdr));
    return out + data;
  }
};

// A 32-bit ELF executable: header and one PT_LOAD, as a real i386 binary starts.
std::string elf32_image() {
  Elf32_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS32;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_386;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = sizeof(Elf32_Ehdr);
  eh.e_ehsize = sizeof(Elf32_Ehdr);
  eh.e_phentsize = sizeof(Elf32_Phdr);
  eh.e_phnum = 1;
  Elf32_Phdr load{};
  load.p_type = PT_LOAD;
  load.p_flags = PF_R | PF_X;
  load.p_align = 0x1000;
  std::string out(reinterpret_cast<const char*>(&eh), sizeof eh);
  out.append(reinterpret_cast<const char*>(&load), sizeof load);
  return out;
}

uint32_t probe_path(const std::string& path) {
  return probe_exe(AT_FDCWD, path.c_str());
}

std::string found(const char* file, const char* path_env, size_t size = PATH_MAX) {
  std::vector<char> out(size + 1, '\0');
  if (!search_path(file, path_env, out.data(), size)) return "<none>";
  return out.data();
}

}  // namespace

TEST_CASE("probe_exe: a dynamic ELF of our class has no flags", "[shim]") {
  CHECK(probe_path("/bin/sh") == 0u);  // a symlink to the real shell, followed
  CHECK(probe_path("/bin/true") == 0u);
  int fd = open("/bin/true", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  CHECK(probe_exe_fd(fd) == 0u);
  close(fd);
}

TEST_CASE("probe_exe: a static executable is STATIC", "[shim]") {
  TempDir dir;
  std::string exe = build_static(dir, "static", "-static");
  if (exe.empty()) {
    VT_SKIP("no cc or no static libc: static executable not tested");
  }
  CHECK(probe_path(exe) == uint32_t{VT_EXE_STATIC});

  std::string pie = build_static(dir, "static_pie", "-static-pie");
  if (pie.empty())
    VT_MARK_SKIPPED("cc cannot build -static-pie: not tested");
  else
    CHECK(probe_path(pie) == uint32_t{VT_EXE_STATIC});

  // A script whose interpreter is static.
  write_file(dir / "run", "#!" + exe + "\n", 0755);
  CHECK(probe_path(dir / "run") == uint32_t{VT_EXE_SCRIPT | VT_EXE_STATIC});
  // A set-user-ID static executable.
  REQUIRE(chmod(exe.c_str(), 04755) == 0);
  CHECK(probe_path(exe) == uint32_t{VT_EXE_STATIC | VT_EXE_SETUID});
}

TEST_CASE("probe_exe: the Go toolchain binary is GO", "[shim]") {
  // The real binary behind the go on PATH (Debian's /usr/bin/go is a link into the toolchain).
  std::string go;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; go.empty() && std::getline(dirs, dir, ':');) {
    std::error_code ec;
    std::filesystem::path real = std::filesystem::canonical(dir + "/go", ec);
    if (!ec && access(real.c_str(), X_OK) == 0) go = real;
  }
  if (go.empty()) VT_SKIP("go is missing: real Go binary not tested (scripts/setup --tests)");
  INFO(go);
  uint32_t flags = probe_path(go);
  CHECK((flags & VT_EXE_GO) != 0);
  CHECK((flags & (VT_EXE_UNREADABLE | VT_EXE_FOREIGN | VT_EXE_SCRIPT | VT_EXE_SETUID)) == 0);
}

TEST_CASE("probe_exe: Go's build-ID note is found among the notes", "[shim]") {
  TempDir dir;
  auto probe_image = [&](const Elf64Image& image) {
    write_file(dir / "elf", image.bytes(), 0755);
    return probe_path(dir / "elf");
  };
  Elf64Image image;
  SECTION("alone, static") {
    image.notes = kGoNote;
    CHECK(probe_image(image) == uint32_t{VT_EXE_GO | VT_EXE_STATIC});
  }
  SECTION("after a GNU build-ID note, dynamic") {
    image.interp = true;
    image.notes = kGnuBuildId + kGoNote;
    CHECK(probe_image(image) == uint32_t{VT_EXE_GO});
  }
  SECTION("name Go with another type is not Go") {
    image.notes = note(std::string("Go\0", 4), 3, "x");
    CHECK(probe_image(image) == uint32_t{VT_EXE_STATIC});
  }
  SECTION("type 4 with the name GNU (gold's version note) is not Go") {
    image.interp = true;
    image.notes = note(std::string("GNU", 4), 4, "gold 1.16");
    CHECK(probe_image(image) == 0u);
  }
  SECTION("a note whose sizes run past the segment") {
    std::string bad = kGnuBuildId;
    uint32_t huge = 0xfffffff0u;
    std::memcpy(bad.data(), &huge, 4);  // namesz
    image.notes = bad + kGoNote;
    CHECK(probe_image(image) == uint32_t{VT_EXE_STATIC});
  }
}

TEST_CASE("probe_exe: a script is SCRIPT and described by its interpreter", "[shim]") {
  TempDir dir;
  SECTION("#!/bin/sh") {
    write_file(dir / "s", "#!/bin/sh\necho hi\n", 0755);
    CHECK(probe_path(dir / "s") == uint32_t{VT_EXE_SCRIPT});
  }
  SECTION("blanks after #! and an argument") {
    write_file(dir / "s", "#! \t/bin/sh -e\nexit 0\n", 0755);
    CHECK(probe_path(dir / "s") == uint32_t{VT_EXE_SCRIPT});
  }
  SECTION("no newline at all") {
    write_file(dir / "s", "#!/bin/sh", 0755);
    CHECK(probe_path(dir / "s") == uint32_t{VT_EXE_SCRIPT});
  }
  SECTION("interpreter missing") {
    write_file(dir / "s", "#!/nonexistent/vt-interp\n", 0755);
    CHECK(probe_path(dir / "s") == uint32_t{VT_EXE_SCRIPT | VT_EXE_UNREADABLE});
  }
  SECTION("no interpreter named") {
    write_file(dir / "s", "#!\n\n\n", 0755);
    CHECK(probe_path(dir / "s") == uint32_t{VT_EXE_SCRIPT | VT_EXE_UNREADABLE});
  }
  SECTION("CRLF line end: the kernel takes the CR as part of the name too") {
    write_file(dir / "s", "#!/bin/sh\r\n", 0755);
    CHECK(probe_path(dir / "s") == uint32_t{VT_EXE_SCRIPT | VT_EXE_UNREADABLE});
  }
  SECTION("a script whose interpreter is a script") {
    write_file(dir / "inner", "#!/bin/sh\n", 0755);
    write_file(dir / "outer", "#!" + (dir / "inner") + "\n", 0755);
    uint32_t flags = probe_path(dir / "outer");
    CHECK((flags & VT_EXE_SCRIPT) != 0);
    CHECK((flags & ~uint32_t{VT_EXE_SCRIPT}) == 0);
  }
  SECTION("interpreter is 32-bit") {
    write_file(dir / "i386", elf32_image(), 0755);
    write_file(dir / "s", "#!" + (dir / "i386") + "\n", 0755);
    CHECK(probe_path(dir / "s") == uint32_t{VT_EXE_SCRIPT | VT_EXE_FOREIGN});
  }
  SECTION("relative to a directory fd") {
    write_file(dir / "s", "#!/bin/sh\n", 0755);
    int dfd = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(dfd >= 0);
    CHECK(probe_exe(dfd, "s") == uint32_t{VT_EXE_SCRIPT});
    CHECK(probe_exe(dfd, "missing") == uint32_t{VT_EXE_UNREADABLE});
    close(dfd);
  }
}

TEST_CASE("probe_exe: set-ID programs are SETUID, set-ID scripts are not", "[shim]") {
  TempDir dir;
  SECTION("set-user-ID copy of /bin/true") {
    copy_file("/bin/true", dir / "true", 04755);
    CHECK(probe_path(dir / "true") == uint32_t{VT_EXE_SETUID});
  }
  SECTION("set-group-ID copy of /bin/true") {
    copy_file("/bin/true", dir / "true", 02755);
    CHECK(probe_path(dir / "true") == uint32_t{VT_EXE_SETUID});
  }
  SECTION("a script with the set-user-ID bit: Linux ignores it, the interpreter decides") {
    write_file(dir / "s", "#!/bin/sh\n", 0755);
    REQUIRE(chmod((dir / "s").c_str(), 04755) == 0);
    CHECK(probe_path(dir / "s") == uint32_t{VT_EXE_SCRIPT});
  }
  SECTION("a script whose interpreter is set-user-ID") {
    copy_file("/bin/true", dir / "true", 04755);
    write_file(dir / "s", "#!" + (dir / "true") + "\n", 0755);
    CHECK(probe_path(dir / "s") == uint32_t{VT_EXE_SCRIPT | VT_EXE_SETUID});
  }
  SECTION("file capabilities") {
    copy_file("/bin/true", dir / "true", 0755);
    // vfs_cap_data revision 2: CAP_NET_BIND_SERVICE (10) permitted and effective.
    uint32_t cap[5] = {0x02000000u | 0x1u, 1u << 10, 0, 0, 0};
    if (setxattr((dir / "true").c_str(), "security.capability", cap, sizeof cap, 0) != 0) {
      VT_SKIP("cannot set file capabilities here (" << std::strerror(errno) << "): not tested");
    }
    CHECK(probe_path(dir / "true") == uint32_t{VT_EXE_SETUID});
  }
}

TEST_CASE("probe_exe: another ELF class or machine is FOREIGN", "[shim]") {
  TempDir dir;
  SECTION("32-bit ELF") {
    write_file(dir / "i386", elf32_image(), 0755);
    CHECK(probe_path(dir / "i386") == uint32_t{VT_EXE_FOREIGN});
  }
  SECTION("64-bit ELF for another machine") {
    Elf64Image image;
    image.interp = true;
    image.machine = kOtherMachine;
    write_file(dir / "other", image.bytes(), 0755);
    CHECK(probe_path(dir / "other") == uint32_t{VT_EXE_FOREIGN});
  }
  SECTION("our own crafted 64-bit ELF, for contrast") {
    Elf64Image image;
    image.interp = true;
    write_file(dir / "ours", image.bytes(), 0755);
    CHECK(probe_path(dir / "ours") == 0u);
  }
}

TEST_CASE("probe_exe: what cannot be inspected is UNREADABLE", "[shim]") {
  TempDir dir;
  SECTION("a text file") {
    write_file(dir / "t", "just some text\n", 0755);
    CHECK(probe_path(dir / "t") == uint32_t{VT_EXE_UNREADABLE});
  }
  SECTION("a directory") {
    CHECK(probe_path(dir.path()) == uint32_t{VT_EXE_UNREADABLE});
    int fd = open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    CHECK(probe_exe_fd(fd) == uint32_t{VT_EXE_UNREADABLE});
    close(fd);
  }
  SECTION("missing") {
    CHECK(probe_path(dir / "nope") == uint32_t{VT_EXE_UNREADABLE});
  }
  SECTION("empty, and shorter than a magic number") {
    write_file(dir / "e", "", 0755);
    CHECK(probe_path(dir / "e") == uint32_t{VT_EXE_UNREADABLE});
    write_file(dir / "e", "#!/", 0755);
    CHECK(probe_path(dir / "e") == uint32_t{VT_EXE_UNREADABLE});
  }
  SECTION("a truncated ELF header") {
    write_file(dir / "e", Elf64Image{}.bytes().substr(0, 40), 0755);
    CHECK(probe_path(dir / "e") == uint32_t{VT_EXE_UNREADABLE});
  }
  SECTION("ELF without program headers") {
    Elf64Image image;
    image.phnum_override = 0;
    write_file(dir / "e", image.bytes(), 0755);
    CHECK(probe_path(dir / "e") == uint32_t{VT_EXE_UNREADABLE});
  }
  SECTION("program headers past the end of the file") {
    Elf64Image image;
    image.phnum_override = 9;
    write_file(dir / "e", image.bytes(), 0755);
    CHECK(probe_path(dir / "e") == uint32_t{VT_EXE_UNREADABLE});
  }
  SECTION("a bad fd") {
    CHECK(probe_exe_fd(-1) == uint32_t{VT_EXE_UNREADABLE});
  }
}

TEST_CASE("search_path takes a name with a slash as it is", "[shim]") {
  CHECK(found("./prog", "/bin") == "./prog");
  CHECK(found("sub/prog", "/bin") == "sub/prog");  // not checked for existence, as execvp
  CHECK(found("/bin/sh", "/nonexistent") == "/bin/sh");
  CHECK(found("/bin/sh", "/bin", 7) == "<none>");  // "/bin/sh" and its NUL need 8
  CHECK(found("/bin/sh", "/bin", 8) == "/bin/sh");
  CHECK(found("", "/bin") == "<none>");
}

TEST_CASE("search_path finds the first executable regular file along PATH", "[shim]") {
  TempDir dir;
  for (const char* d : {"a", "b", "c"}) REQUIRE(mkdir((dir / d).c_str(), 0755) == 0);
  write_file(dir / "a/prog", "#!/bin/sh\n", 0644);      // not executable: skipped
  REQUIRE(mkdir((dir / "b/prog").c_str(), 0755) == 0);  // a directory: skipped
  write_file(dir / "c/prog", "#!/bin/sh\n", 0755);
  const std::string path = (dir / "a") + ":" + (dir / "b") + ":" + (dir / "c");
  CHECK(found("prog", path.c_str()) == dir / "c/prog");
  CHECK(found("prog", ((dir / "c") + ":" + (dir / "a")).c_str()) == dir / "c/prog");
  CHECK(found("other", path.c_str()) == "<none>");

  SECTION("an entry too long for the output is skipped, not truncated") {
    const std::string longdir = "/" + std::string(200, 'x');
    const std::string p = longdir + ":" + (dir / "c");
    CHECK(found("prog", p.c_str(), (dir / "c/prog").size() + 1) == dir / "c/prog");
    CHECK(found("prog", p.c_str(), (dir / "c/prog").size()) == "<none>");
  }
  SECTION("PATH unset means /bin:/usr/bin") {
    CHECK(found("sh", nullptr) == "/bin/sh");
  }
}

TEST_CASE("search_path takes empty PATH entries as the current directory", "[shim]") {
  TempDir dir;
  REQUIRE(mkdir((dir / "bin").c_str(), 0755) == 0);
  write_file(dir / "prog", "#!/bin/sh\n", 0755);
  InDir in(dir.path());
  const std::string other = dir / "bin";
  CHECK(found("prog", (":" + other).c_str()) == "./prog");
  CHECK(found("prog", (other + ":").c_str()) == "./prog");
  CHECK(found("prog", (other + "::" + other).c_str()) == "./prog");
  CHECK(found("prog", other.c_str()) == "<none>");

  SECTION("PATH set but empty: glibc's execvp searches only the current directory") {
    CHECK(found("prog", "") == "./prog");
    CHECK(found("sh", "") == "<none>");
  }
  SECTION("a non-executable file in the current directory is skipped") {
    REQUIRE(chmod("prog", 0644) == 0);
    write_file(dir / "bin/prog", "#!/bin/sh\n", 0755);
    CHECK(found("prog", (":" + other).c_str()) == dir / "bin/prog");
  }
}

TEST_CASE("phdrs_mark_go reads the notes of loaded program headers", "[shim]") {
  SECTION("this test program is not Go") {
    struct Found {
      bool any = false;
      bool go = false;
    } result;
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
          auto* r = static_cast<Found*>(data);
          r->any = true;
          r->go = phdrs_mark_go(info->dlpi_phdr, info->dlpi_phnum, info->dlpi_addr);
          return 1;  // the main program only
        },
        &result);
    REQUIRE(result.any);
    CHECK_FALSE(result.go);
  }
  SECTION("a Go note in memory, located through the bias") {
    alignas(8) static unsigned char mem[256];
    const std::string notes = kGnuBuildId + kGoNote;
    REQUIRE(notes.size() <= sizeof mem);
    std::memcpy(mem, notes.data(), notes.size());
    Elf64_Phdr ph[2] = {};
    ph[0].p_type = PT_LOAD;
    ph[1].p_type = PT_NOTE;
    ph[1].p_vaddr = 0x1000;
    ph[1].p_memsz = notes.size();
    const uintptr_t bias = reinterpret_cast<uintptr_t>(mem) - 0x1000;
    CHECK(phdrs_mark_go(ph, 2, bias));
    ph[1].p_memsz = kGnuBuildId.size();  // the Go note is outside the segment now
    CHECK_FALSE(phdrs_mark_go(ph, 2, bias));
    CHECK_FALSE(phdrs_mark_go(ph, 0, bias));
  }
}
