// Nothing the program can observe differs: it lists the descriptors it has untraced, in the
// process and in its children, whatever the shim was doing at the time.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "harness.h"

using namespace vt_test;

namespace {

// Lists the process's fds at start, in a second thread, in a fork child, and in a child
// started with pass_fds (as CPython's own test_subprocess checks).
const char* const kLister = R"(
import os, subprocess, threading
def fds(): return ' '.join(sorted(os.listdir('/proc/self/fd'), key=int))
print('start', fds())
t = threading.Thread(target=lambda: print('thread', fds())); t.start(); t.join()
pid = os.fork()
if pid == 0:
    print('fork child', fds(), flush=True); os._exit(0)
os.waitpid(pid, 0)
r, w = os.pipe()
print('pass_fds child', subprocess.run(['ls', '/proc/self/fd'], pass_fds=[w],
      capture_output=True, text=True).stdout.split())
print('close_fds child', subprocess.run(['ls', '/proc/self/fd'],
      capture_output=True, text=True).stdout.split())
)";

}  // namespace

TEST_CASE("a traced program lists the descriptors it has untraced, in every process") {
  if (!on_path("python3")) {
    VT_SKIP("needs python3");
  }
  Sandbox s;
  s.write_file("lister.py", kLister);
  Result plain = s.command({"python3", "lister.py"});
  REQUIRE(plain.exit_code() == 0);
  Result traced = s.viztrace({"run", "-q", "--", "python3", "lister.py"});
  INFO(traced.err);
  CHECK(traced.exit_code() == 0);
  CHECK(traced.out == plain.out);
  // The trace saw every process it lists from.
  Report report = s.report();
  CHECK(report.named("python3").size() >= 2);  // the program and its fork child
  CHECK(report.named("ls").size() == 2);
  require_clean(s);
}

TEST_CASE("a shell listing its descriptors sees its own only") {
  Sandbox s;
  const std::string script = "ls /proc/$$/fd; exec 7>/dev/null; ls /proc/$$/fd";
  Result plain = s.command({"sh", "-c", script});
  REQUIRE(plain.exit_code() == 0);
  Result traced = s.viztrace({"run", "-q", "--", "sh", "-c", script});
  INFO(traced.err);
  CHECK(traced.exit_code() == 0);
  CHECK(traced.out == plain.out);
  require_clean(s);
}

TEST_CASE("CPython's own subprocess tests of descriptors pass traced, as untraced") {
  if (!on_path("python3")) VT_SKIP("needs python3");
  Sandbox s;
  // Debian ships CPython's test suite apart (libpython3.11-testsuite).
  if (s.command({"python3", "-c", "import test.test_subprocess"}).exit_code() != 0)
    VT_SKIP("needs CPython's test suite (test.test_subprocess)");
  const std::vector<std::string> tests = {"python3", "-m", "test", "test_subprocess",
                                          "-v",      "-m", "*fd*"};
  Result plain = s.command(tests);
  INFO(plain.out);
  REQUIRE(plain.exit_code() == 0);
  std::vector<std::string> traced_argv = {"run", "-q", "--"};
  traced_argv.insert(traced_argv.end(), tests.begin(), tests.end());
  Result traced = s.viztrace(traced_argv);
  INFO(traced.out);
  INFO(traced.err);
  CHECK(traced.exit_code() == 0);
  CHECK(traced.out.find("SUCCESS") != std::string::npos);
  // The same tests ran: pass_fds, close_fds, inherited and redirected descriptors.
  auto ran = [](const std::string& out) {
    auto at = out.find("\nRan ");  // "Ran 29 tests in 1.450s"
    return at == std::string::npos ? std::string() : out.substr(at, out.find(" in ", at) - at);
  };
  CHECK(!ran(plain.out).empty());
  CHECK(ran(traced.out) == ran(plain.out));
  require_clean(s);
}

TEST_CASE("a fork while other threads trace sees no descriptor of the shim in the child") {
  if (!on_path("python3")) VT_SKIP("needs python3");
  Sandbox s;
  // Three threads start threads without pause (each start and end is an emission, with the
  // FIFO open for a moment) while the main thread forks; each child looks for the FIFO.
  s.write_file("race.py", R"(
import os, threading
stop = False
def churn():
    while not stop:
        t = threading.Thread(target=lambda: None); t.start(); t.join()
workers = [threading.Thread(target=churn) for _ in range(3)]
for w in workers: w.start()
seen = 0
for i in range(1000):
    pid = os.fork()
    if pid == 0:
        fifo = 0
        for fd in os.listdir('/proc/self/fd'):
            try: fifo += os.readlink('/proc/self/fd/' + fd).endswith('/fifo')
            except OSError: pass
        os._exit(1 if fifo else 0)
    seen += os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 1
stop = True
for w in workers: w.join()
print('children that saw the FIFO:', seen)
)");
  Result r = s.viztrace({"run", "-q", "--", "python3", "race.py"});
  INFO(r.err);
  CHECK(r.exit_code() == 0);
  CHECK(r.out == "children that saw the FIFO: 0\n");
  require_clean(s);
}
