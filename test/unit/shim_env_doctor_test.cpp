// env_doctor: the shim's variables, LD_PRELOAD and ASAN_OPTIONS put back into an exec's envp,
// in caller scratch, or envp returned untouched when it cannot (or need not) be done.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "common/env_doctor.h"

using vt_shim::doctor_env;
using vt_shim::EnvScratch;
using vt_shim::EnvValues;
using vt_shim::kExtraSlots;
using vt_shim::kMaxEnvEntries;
using vt_shim::preload_lists;

namespace {

constexpr char kShim[] = "/opt/vt/lib/viztrace/libviztrace-shim.so";
constexpr char kFifoEntry[] = "VIZTRACE_FIFO=/tmp/vt-1/fifo";
constexpr char kShimEntry[] = "VIZTRACE_SHIM=/opt/vt/lib/viztrace/libviztrace-shim.so";
constexpr char kAsanDone[] = "ASAN_OPTIONS=verify_asan_link_order=0";
const std::string kPreloadShim = std::string("LD_PRELOAD=") + kShim;

const EnvValues kValues = {kFifoEntry, kShimEntry, kShim};
// For runs of the real loader: nothing at these paths.
const EnvValues kLoaderValues = {"VIZTRACE_FIFO=/nonexistent-vt/fifo",
                                 "VIZTRACE_SHIM=/nonexistent-vt/shim.so",
                                 "/nonexistent-vt/shim.so"};

// A NULL-terminated envp over owned strings (the strings never move once built).
class Env {
 public:
  Env(std::initializer_list<std::string> list) : strings_(list) { rebuild(); }
  explicit Env(std::vector<std::string> list) : strings_(std::move(list)) { rebuild(); }
  char* const* envp() const { return ptrs_.data(); }
  const std::vector<char*>& ptrs() const { return ptrs_; }

 private:
  void rebuild() {
    for (auto& s : strings_) ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  std::vector<std::string> strings_;
  std::vector<char*> ptrs_;
};

// What the scratch slots hold until doctor_env writes them.
char kUnwritten[] = "<unwritten slot>";

// Generous scratch unless told otherwise; slots are poisoned so stale reads show.
struct Scratch {
  explicit Scratch(size_t slots, size_t preload = 8192, size_t asan = 1024)
      : slot_store(slots, kUnwritten), preload_store(preload, '#'), asan_store(asan, '#') {
    s = {slot_store.data(),    slot_store.size(), preload_store.data(),
         preload_store.size(), asan_store.data(), asan_store.size()};
  }
  std::vector<char*> slot_store;
  std::vector<char> preload_store;
  std::vector<char> asan_store;
  EnvScratch s;
};

std::vector<std::string> entries(char* const* envp) {
  std::vector<std::string> out;
  for (size_t i = 0; envp && envp[i]; ++i) out.emplace_back(envp[i]);
  return out;
}

std::vector<std::string> named(char* const* envp, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& e : entries(envp))
    if (e.compare(0, name.size() + 1, name + "=") == 0) out.push_back(e.substr(name.size() + 1));
  return out;
}

// What getenv() in the new image would return: the first entry of that name.
std::string first_value(char* const* envp, const std::string& name) {
  auto v = named(envp, name);
  return v.empty() ? std::string("<unset>") : v.front();
}

// The objects ld.so tries to preload when /bin/true runs with envp. Every path in these tests
// is missing, so ld.so names each one it tries on stderr, in the order it tries them.
std::vector<std::string> loader_preloads(char* const* envp) {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 2);
    char arg0[] = "/bin/true";
    char* argv[] = {arg0, nullptr};
    execve(arg0, argv, envp);
    _exit(127);
  }
  close(fds[1]);
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::vector<std::string> out;
  const std::string lead = "object '";
  for (size_t at = err.find(lead); at != std::string::npos; at = err.find(lead, at)) {
    at += lead.size();
    size_t end = err.find('\'', at);
    if (end == std::string::npos) break;
    out.push_back(err.substr(at, end - at));
    at = end;
  }
  return out;
}

}  // namespace

TEST_CASE("env_count counts up to the terminator and takes a NULL envp as empty", "[shim]") {
  CHECK(vt_shim::env_count(nullptr) == 0);
  Env empty{};
  CHECK(vt_shim::env_count(empty.envp()) == 0);
  Env three{"A=1", "B=2", "C=3"};
  CHECK(vt_shim::env_count(three.envp()) == 3);
}

TEST_CASE("doctor_env builds the whole set for a NULL or empty envp", "[shim]") {
  const std::vector<std::string> expected = {kPreloadShim, kAsanDone, kFifoEntry, kShimEntry};
  SECTION("NULL envp") {
    Scratch sc(kExtraSlots);  // exactly enough: four entries and the terminator
    char* const* out = doctor_env(nullptr, kValues, sc.s);
    REQUIRE(out == sc.slot_store.data());
    CHECK(entries(out) == expected);
    CHECK(out[4] == nullptr);
  }
  SECTION("empty envp") {
    Env env{};
    Scratch sc(kExtraSlots);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    REQUIRE(out == sc.slot_store.data());
    CHECK(entries(out) == expected);
  }
}

TEST_CASE("doctor_env returns envp itself when nothing is missing", "[shim]") {
  Env env{"HOME=/root", std::string("LD_PRELOAD=/usr/lib/libfoo.so:") + kShim,
          "ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0", kFifoEntry, kShimEntry};
  Scratch sc(64);
  CHECK(doctor_env(env.envp(), kValues, sc.s) == env.envp());
  // Nothing was written into the scratch either.
  CHECK(sc.slot_store[0] == kUnwritten);

  SECTION("even when the scratch could not have held a copy") {
    Scratch none(0, 0, 0);
    CHECK(doctor_env(env.envp(), kValues, none.s) == env.envp());
  }
}

TEST_CASE("doctor_env keeps the user's entries, in order, as the same strings", "[shim]") {
  Env env{"HOME=/root", "PATH=/bin", "TERM=xterm"};
  Scratch sc(env.ptrs().size() - 1 + kExtraSlots);
  char* const* out = doctor_env(env.envp(), kValues, sc.s);
  REQUIRE(out != env.envp());
  CHECK(entries(out) == std::vector<std::string>{"HOME=/root", "PATH=/bin", "TERM=xterm",
                                                 kPreloadShim, kAsanDone, kFifoEntry, kShimEntry});
  for (size_t i = 0; i < 3; ++i) CHECK(out[i] == env.ptrs()[i]);  // not copied
  CHECK(out[7] == nullptr);
  // The caller's array is untouched.
  CHECK(entries(env.envp()) == std::vector<std::string>{"HOME=/root", "PATH=/bin", "TERM=xterm"});
}

TEST_CASE("doctor_env appends the shim after the user's preloads, in place", "[shim]") {
  SECTION("colon-separated list") {
    Env env{"A=1", "LD_PRELOAD=/usr/lib/libasan.so.8:/usr/lib/libfoo.so", "B=2"};
    Scratch sc(16);
    auto out = entries(doctor_env(env.envp(), kValues, sc.s));
    REQUIRE(out.size() >= 3);
    CHECK(out[0] == "A=1");
    CHECK(out[1] == std::string("LD_PRELOAD=/usr/lib/libasan.so.8:/usr/lib/libfoo.so:") + kShim);
    CHECK(out[2] == "B=2");
    CHECK(named(doctor_env(env.envp(), kValues, sc.s), "LD_PRELOAD").size() == 1);
  }
  SECTION("space-separated list") {
    Env env{"LD_PRELOAD=/a.so /b.so"};
    Scratch sc(16);
    CHECK(named(doctor_env(env.envp(), kValues, sc.s), "LD_PRELOAD") ==
          std::vector<std::string>{std::string("/a.so /b.so:") + kShim});
  }
  SECTION("empty value") {
    Env env{"LD_PRELOAD="};
    Scratch sc(16);
    CHECK(named(doctor_env(env.envp(), kValues, sc.s), "LD_PRELOAD") ==
          std::vector<std::string>{kShim});
  }
  SECTION("a similar name is not LD_PRELOAD") {
    Env env{"LD_PRELOAD_X=/a.so", "LD_PRELOAD"};
    Scratch sc(16);
    auto out = entries(doctor_env(env.envp(), kValues, sc.s));
    CHECK(out == std::vector<std::string>{"LD_PRELOAD_X=/a.so", "LD_PRELOAD", kPreloadShim,
                                          kAsanDone, kFifoEntry, kShimEntry});
  }
}

TEST_CASE("doctor_env leaves a LD_PRELOAD that already lists the shim as it is", "[shim]") {
  // The FIFO entry is missing, so a copy is made; LD_PRELOAD must pass through unchanged.
  auto check = [](const std::string& preload) {
    INFO(preload);
    Env env{"LD_PRELOAD=" + preload, kAsanDone, kShimEntry};
    Scratch sc(16);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    REQUIRE(out != env.envp());
    CHECK(out[0] == env.ptrs()[0]);
    CHECK(named(out, "LD_PRELOAD") == std::vector<std::string>{preload});
    CHECK(named(out, "VIZTRACE_FIFO") == std::vector<std::string>{"/tmp/vt-1/fifo"});
  };
  check(kShim);
  check(std::string("/a.so:") + kShim);
  check(std::string(kShim) + ":/a.so");
  check(std::string("/a.so ") + kShim + " /b.so");
  check(std::string("::") + kShim + "::");
  check(std::string("  ") + kShim + "  ");
}

TEST_CASE("doctor_env does not take a path that merely starts with the shim's for it", "[shim]") {
  auto check = [](const std::string& preload) {
    INFO(preload);
    Env env{"LD_PRELOAD=" + preload, kAsanDone, kFifoEntry, kShimEntry};
    Scratch sc(16);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    REQUIRE(out != env.envp());
    CHECK(named(out, "LD_PRELOAD") == std::vector<std::string>{preload + ":" + kShim});
  };
  check(std::string(kShim) + ".bak");
  check(std::string(kShim) + "x:/a.so");
  check(std::string("/x") + kShim);
  check(std::string(kShim).substr(0, std::strlen(kShim) - 1));
}

TEST_CASE("preload_lists matches whole colon- or space-separated items only", "[shim]") {
  CHECK(preload_lists("/a.so", "/a.so"));
  CHECK(preload_lists("/b.so:/a.so", "/a.so"));
  CHECK(preload_lists("/b.so /a.so", "/a.so"));
  CHECK(preload_lists("/b.so : /a.so :", "/a.so"));
  CHECK(preload_lists(":::/a.so", "/a.so"));
  CHECK_FALSE(preload_lists("", "/a.so"));
  CHECK_FALSE(preload_lists(":: ", "/a.so"));
  CHECK_FALSE(preload_lists("/a.so.1", "/a.so"));
  CHECK_FALSE(preload_lists("/a.s", "/a.so"));
  CHECK_FALSE(preload_lists("/x/a.so", "/a.so"));
  CHECK_FALSE(preload_lists("/a.so", ""));  // an empty path is never listed
  CHECK_FALSE(preload_lists(":", ""));
}

TEST_CASE("doctor_env replaces every stale VIZTRACE_FIFO and VIZTRACE_SHIM", "[shim]") {
  const std::string preload = kPreloadShim;
  SECTION("another session's FIFO first: a nested viztrace's environment, left alone") {
    Env env{"VIZTRACE_FIFO=/tmp/old-session/fifo", preload, kAsanDone, kFifoEntry, kShimEntry};
    Scratch sc(16);
    CHECK(doctor_env(env.envp(), kValues, sc.s) == env.envp());
  }
  SECTION("another session's FIFO first, claimed by the launcher") {
    Env env{"VIZTRACE_FIFO=/tmp/old-session/fifo", preload, kAsanDone, kFifoEntry, kShimEntry};
    Scratch sc(16);
    char* const* out = doctor_env(env.envp(), kValues, sc.s, /*claim=*/true);
    CHECK(out != env.envp());
    CHECK(named(out, "VIZTRACE_FIFO") == std::vector<std::string>{"/tmp/vt-1/fifo"});
    CHECK(first_value(out, "VIZTRACE_FIFO") == "/tmp/vt-1/fifo");
  }
  SECTION("stale FIFO after the right one") {
    Env env{kFifoEntry, preload, kAsanDone, "VIZTRACE_FIFO=/tmp/old/fifo", kShimEntry};
    Scratch sc(16);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    CHECK(named(out, "VIZTRACE_FIFO") == std::vector<std::string>{"/tmp/vt-1/fifo"});
  }
  SECTION("two stale FIFOs and a stale SHIM, claimed") {
    Env env{"VIZTRACE_FIFO=/a", "X=1", "VIZTRACE_FIFO=/b", "VIZTRACE_SHIM=/old/shim.so"};
    Scratch sc(16);
    char* const* out = doctor_env(env.envp(), kValues, sc.s, /*claim=*/true);
    CHECK(entries(out) ==
          std::vector<std::string>{"X=1", preload, kAsanDone, kFifoEntry, kShimEntry});
  }
  SECTION("stale SHIM before the right one") {
    Env env{"VIZTRACE_SHIM=/old/shim.so", preload, kAsanDone, kFifoEntry, kShimEntry};
    Scratch sc(16);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    CHECK(out != env.envp());
    CHECK(first_value(out, "VIZTRACE_SHIM") == kShim);
    CHECK(named(out, "VIZTRACE_SHIM").size() == 1);
  }
  SECTION("names that only start like ours are kept") {
    Env env{"VIZTRACE_FIFOX=1", "VIZTRACE_FIFO", "VIZTRACE_SHIM_OLD=2"};
    Scratch sc(16);
    CHECK(entries(doctor_env(env.envp(), kValues, sc.s)) ==
          std::vector<std::string>{"VIZTRACE_FIFOX=1", "VIZTRACE_FIFO", "VIZTRACE_SHIM_OLD=2",
                                   preload, kAsanDone, kFifoEntry, kShimEntry});
  }
}

TEST_CASE("doctor_env adds verify_asan_link_order=0 to ASAN_OPTIONS", "[shim]") {
  SECTION("appended to the user's options, in place") {
    Env env{"ASAN_OPTIONS=detect_leaks=0:halt_on_error=1", "Z=1"};
    Scratch sc(16);
    auto out = entries(doctor_env(env.envp(), kValues, sc.s));
    REQUIRE(!out.empty());
    CHECK(out[0] == "ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:verify_asan_link_order=0");
    CHECK(out[1] == "Z=1");
  }
  SECTION("empty value") {
    Env env{"ASAN_OPTIONS="};
    Scratch sc(16);
    CHECK(named(doctor_env(env.envp(), kValues, sc.s), "ASAN_OPTIONS") ==
          std::vector<std::string>{"verify_asan_link_order=0"});
  }
  SECTION("already there: the entry passes through as the same string") {
    Env env{"ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0"};
    Scratch sc(16);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    CHECK(out[0] == env.ptrs()[0]);
    CHECK(named(out, "ASAN_OPTIONS").size() == 1);
  }
  SECTION("two entries: sanitizers read the first, so the first gets the option") {
    Env env{"ASAN_OPTIONS=detect_leaks=0", "ASAN_OPTIONS=verify_asan_link_order=0"};
    Scratch sc(16);
    CHECK(first_value(doctor_env(env.envp(), kValues, sc.s), "ASAN_OPTIONS") ==
          "detect_leaks=0:verify_asan_link_order=0");
  }
}

TEST_CASE("the real loader preloads the user's objects, then the shim", "[shim]") {
  // Paths that do not exist, so ld.so reports each preload it attempts.
  SECTION("one LD_PRELOAD") {
    Env env{"LD_PRELOAD=/nonexistent-vt/user.so"};
    Scratch sc(16);
    CHECK(loader_preloads(doctor_env(env.envp(), kLoaderValues, sc.s)) ==
          std::vector<std::string>{"/nonexistent-vt/user.so", "/nonexistent-vt/shim.so"});
  }
  SECTION("no LD_PRELOAD") {
    Env env{"A=1"};
    Scratch sc(16);
    CHECK(loader_preloads(doctor_env(env.envp(), kLoaderValues, sc.s)) ==
          std::vector<std::string>{"/nonexistent-vt/shim.so"});
  }
  SECTION("glibc's loader reads the last of two LD_PRELOAD entries") {
    Env env{"LD_PRELOAD=/nonexistent-vt/one.so", "LD_PRELOAD=/nonexistent-vt/two.so"};
    CHECK(loader_preloads(env.envp()) == std::vector<std::string>{"/nonexistent-vt/two.so"});
  }
}

// glibc's ld.so honours the LAST LD_PRELOAD (see the test above): that is the one extended.
TEST_CASE("doctor_env puts the shim in the LD_PRELOAD the loader reads", "[shim]") {
  const std::string shim_only = kShim;
  SECTION("two entries, neither lists the shim") {
    Env env{"LD_PRELOAD=/a.so", "LD_PRELOAD=/b.so", kAsanDone, kFifoEntry, kShimEntry};
    Scratch sc(16);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    auto values = named(out, "LD_PRELOAD");
    REQUIRE(!values.empty());
    for (const auto& v : values) CHECK(preload_lists(v.c_str(), kShim));
    CHECK(values.back() == "/b.so:" + shim_only);
  }
  SECTION("only the first lists the shim") {
    Env env{kPreloadShim, "LD_PRELOAD=/b.so", kAsanDone, kFifoEntry, kShimEntry};
    Scratch sc(16);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    auto values = named(out, "LD_PRELOAD");
    REQUIRE(!values.empty());
    for (const auto& v : values) CHECK(preload_lists(v.c_str(), kShim));
    CHECK(values.back() == "/b.so:" + shim_only);
  }
  SECTION("only the last lists the shim: nothing to do") {
    Env env{"LD_PRELOAD=/a.so", kPreloadShim, kAsanDone, kFifoEntry, kShimEntry};
    Scratch sc(16);
    CHECK(doctor_env(env.envp(), kValues, sc.s) == env.envp());
  }
  SECTION("the real loader, two entries") {
    Env env{"LD_PRELOAD=/nonexistent-vt/one.so", "LD_PRELOAD=/nonexistent-vt/two.so"};
    Scratch sc(16);
    auto tried = loader_preloads(doctor_env(env.envp(), kLoaderValues, sc.s));
    CHECK(tried == std::vector<std::string>{"/nonexistent-vt/two.so", "/nonexistent-vt/shim.so"});
  }
}

TEST_CASE("doctor_env returns envp untouched when the scratch is too small", "[shim]") {
  Env env{"A=1", "LD_PRELOAD=/usr/lib/libfoo.so", "ASAN_OPTIONS=detect_leaks=0", "B=2"};
  const std::vector<char*> before = env.ptrs();
  const size_t n = before.size() - 1;
  const std::string preload = std::string("LD_PRELOAD=/usr/lib/libfoo.so:") + kShim;
  const std::string asan = "ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0";

  SECTION("one slot short") {
    Scratch sc(n + kExtraSlots - 1);
    CHECK(doctor_env(env.envp(), kValues, sc.s) == env.envp());
  }
  SECTION("LD_PRELOAD buffer one byte short") {
    Scratch sc(n + kExtraSlots, preload.size(), 1024);
    CHECK(doctor_env(env.envp(), kValues, sc.s) == env.envp());
  }
  SECTION("ASAN_OPTIONS buffer one byte short") {
    Scratch sc(n + kExtraSlots, 8192, asan.size());
    CHECK(doctor_env(env.envp(), kValues, sc.s) == env.envp());
  }
  SECTION("no LD_PRELOAD buffer at all") {
    Scratch sc(n + kExtraSlots, 0, 1024);
    CHECK(doctor_env(env.envp(), kValues, sc.s) == env.envp());
  }
  SECTION("exactly enough of everything") {
    Scratch sc(n + kExtraSlots, preload.size() + 1, asan.size() + 1);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    REQUIRE(out == sc.slot_store.data());
    CHECK(entries(out) ==
          std::vector<std::string>{"A=1", preload, asan, "B=2", kFifoEntry, kShimEntry});
  }
  CHECK(env.ptrs() == before);
  CHECK(entries(env.envp()) == std::vector<std::string>{"A=1", "LD_PRELOAD=/usr/lib/libfoo.so",
                                                        "ASAN_OPTIONS=detect_leaks=0", "B=2"});
}

TEST_CASE("doctor_env passes environments over kMaxEnvEntries on untouched", "[shim]") {
  auto make = [](size_t n) {
    std::vector<std::string> v;
    for (size_t i = 0; i < n; ++i) v.push_back("V" + std::to_string(i) + "=x");
    return v;
  };
  SECTION("one over the limit") {
    Env env(make(kMaxEnvEntries + 1));
    Scratch sc(kMaxEnvEntries + 1 + kExtraSlots);
    CHECK(doctor_env(env.envp(), kValues, sc.s) == env.envp());
  }
  SECTION("at the limit") {
    Env env(make(kMaxEnvEntries));
    Scratch sc(kMaxEnvEntries + kExtraSlots);
    char* const* out = doctor_env(env.envp(), kValues, sc.s);
    REQUIRE(out == sc.slot_store.data());
    auto got = entries(out);
    REQUIRE(got.size() == kMaxEnvEntries + 4);
    CHECK(got[kMaxEnvEntries - 1] == "V" + std::to_string(kMaxEnvEntries - 1) + "=x");
    CHECK(got.back() == kShimEntry);
  }
}

TEST_CASE("env doctor: the function tracer's settings come back whole, and only once") {
  EnvValues values = kValues;
  values.more[0] = "VIZTRACE_CLOCK=tsc";
  values.more[1] = "VIZTRACE_MAX_DEPTH=3";
  SECTION("missing from an environment of the program's own") {
    Env env{"FOO=bar"};
    Scratch scratch(env.ptrs().size() + kExtraSlots);
    char* const* out = doctor_env(env.envp(), values, scratch.s);
    CHECK(named(out, "VIZTRACE_CLOCK") == std::vector<std::string>{"tsc"});
    CHECK(named(out, "VIZTRACE_MAX_DEPTH") == std::vector<std::string>{"3"});
    CHECK(named(out, "FOO") == std::vector<std::string>{"bar"});
  }
  SECTION("present with another value, twice: replaced by ours, once") {
    Env env{"VIZTRACE_MAX_DEPTH=99", std::string(kFifoEntry), std::string(kShimEntry),
            kPreloadShim, kAsanDone, "VIZTRACE_CLOCK=tsc", "VIZTRACE_MAX_DEPTH=7"};
    Scratch scratch(env.ptrs().size() + kExtraSlots);
    char* const* out = doctor_env(env.envp(), values, scratch.s);
    CHECK(out != env.envp());
    CHECK(named(out, "VIZTRACE_MAX_DEPTH") == std::vector<std::string>{"3"});
    CHECK(named(out, "VIZTRACE_CLOCK") == std::vector<std::string>{"tsc"});
  }
  SECTION("all there as they should be: envp itself") {
    Env env{std::string(kFifoEntry), std::string(kShimEntry), kPreloadShim, kAsanDone,
            "VIZTRACE_CLOCK=tsc", "VIZTRACE_MAX_DEPTH=3"};
    Scratch scratch(env.ptrs().size() + kExtraSlots);
    CHECK(doctor_env(env.envp(), values, scratch.s) == env.envp());
  }
  SECTION("settings the session does not have are not added") {
    values.more[0] = nullptr;
    values.more[1] = nullptr;
    Env env{"FOO=bar"};
    Scratch scratch(env.ptrs().size() + kExtraSlots);
    char* const* out = doctor_env(env.envp(), values, scratch.s);
    CHECK(named(out, "VIZTRACE_CLOCK").empty());
    CHECK(named(out, "VIZTRACE_MAX_DEPTH").empty());
  }
}
