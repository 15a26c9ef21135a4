// Session dirs: private, never swept while alive (not even by a session side by side), swept by
// the next start once their viztrace was killed, recoverable, kept on request; sweeping never
// follows a link out of a dir.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "harness.h"
#include "common/wire.h"
#include "spill/spill_format.h"

using namespace vt_test;
namespace fs = std::filesystem;

namespace {

// Starts `viztrace run -- sh -c 'echo ready; sleep 30'`-like runs that wait for a release.
std::string waiting_script(const Sandbox& s, const std::string& gate) {
  return "echo ready; while [ ! -e " + s.path(gate) + " ]; do sleep 0.05; done";
}

// Waits until the one session dir in the temp root holds trace data (its first spill segment,
// written once the collector runs): a viztrace killed before that leaves nothing to recover.
void await_first_segment(const Sandbox& s, double timeout_s = 30) {
  const std::string segment = viztrace::spill::segment_name(0);
  for (int waited_ms = 0;; waited_ms += 10) {
    auto left = s.temp_leftovers();
    REQUIRE(left.size() == 1);
    if (fs::exists(s.tmp() + "/" + left[0] + "/" + segment)) return;
    INFO("waiting for " << left[0] << "/" << segment);
    REQUIRE(waited_ms < timeout_s * 1000);
    usleep(10000);
  }
}

}  // namespace

TEST_CASE("the session dir is private and the FIFO and hello socket are the user's alone") {
  Sandbox s;
  auto r = s.viztrace({"run", "--", "sh", "-c",
                       "d=\"$(dirname \"$VIZTRACE_FIFO\")\"; "
                       "stat -c '%a %F' \"$d\" \"$VIZTRACE_FIFO\" \"$d/hello\""});
  INFO(r.err);
  CHECK(r.out == "700 directory\n600 fifo\n600 socket\n");
  require_clean(s);
}

TEST_CASE("sessions side by side never sweep each other") {
  Sandbox s;
  auto first = s.start_viztrace({"run", "-o", "first.json", "--", "sh", "-c",
                                 waiting_script(s, "go") + "; echo first-done"});
  first->wait_for_out("ready");
  REQUIRE(s.temp_leftovers().size() == 1);  // the first session's dir
  // A whole second run starts (sweeping orphans) and ends while the first is alive.
  auto second = s.viztrace({"run", "-o", "second.json", "--", "sh", "-c", "echo second"});
  CHECK(second.exit_code() == 0);
  CHECK(s.temp_leftovers().size() == 1);
  auto cleaned = s.viztrace({"clean"});
  CHECK(cleaned.out.find("nothing to clean") != std::string::npos);
  s.write_file("go", "");
  Result r = first->finish();
  CHECK(r.exit_code() == 0);
  CHECK(r.out == "ready\nfirst-done\n");
  CHECK(s.report("first.json").target().exit_code == 0);
  CHECK(s.report("second.json").target().exit_code == 0);
  require_clean(s);
}

TEST_CASE("a hundred runs started at once beside a clean loop all succeed and sweep no live dir") {
  Sandbox s;
  // Each start sweeps orphans, and so does every clean: neither may take a dir being created.
  auto cleaner = s.start({"sh", "-c",
                          "while [ ! -e stop ]; do " + viztrace_bin() +
                              " clean >>clean.out 2>&1; done"});
  constexpr int kRuns = 100;
  std::vector<std::unique_ptr<Running>> runs;
  for (int i = 0; i < kRuns; ++i) {
    std::string n = std::to_string(i);
    runs.push_back(
        s.start_viztrace({"run", "-q", "-o", "r" + n + ".json", "--", "touch", "ran" + n}));
  }
  int failed = 0;
  for (int i = 0; i < kRuns; ++i) {
    Result r = runs[i]->finish(120);
    INFO("run " << i << ": " << r.err);
    CHECK(r.exit_code() == 0);
    CHECK(r.err.empty());
    CHECK(fs::exists(s.path("ran" + std::to_string(i))));
    if (r.exit_code() != 0) ++failed;
  }
  CHECK(failed == 0);
  s.write_file("stop", "");
  CHECK(cleaner->finish().exit_code() == 0);
  // No session was ever an orphan: clean found nothing to remove, and never failed to.
  std::string cleaned = slurp(s.path("clean.out"));
  CHECK(cleaned.find("nothing to clean") != std::string::npos);
  CHECK(cleaned.find("remove") == std::string::npos);
  CHECK(s.report("r0.json").target().exit_code == 0);
  CHECK(s.report("r99.json").target().exit_code == 0);
  require_clean(s);
}

TEST_CASE("a run killed while it creates its session dir leaves what a later sweep removes") {
  Sandbox s;
  Options o;
  o.env["VIZTRACE_TEST_FAULT"] = "session-kill";
  auto killed = s.viztrace({"run", "--", "touch", "ran"}, o);
  CHECK(killed.signal() == SIGKILL);
  CHECK_FALSE(fs::exists(s.path("ran")));
  auto left = s.temp_leftovers();
  REQUIRE(left.size() == 1);
  // Unlocked, but as young as a dir another run is creating right now: left alone.
  CHECK(s.viztrace({"run", "-q", "--", "true"}).exit_code() == 0);
  CHECK(s.viztrace({"clean"}).out.find("nothing to clean") != std::string::npos);
  REQUIRE(s.temp_leftovers() == left);
  // Once it is old enough that no creation can still be under way, it goes.
  std::string unfinished = s.tmp() + "/" + left[0];
  fs::last_write_time(unfinished, fs::last_write_time(unfinished) - std::chrono::minutes(5));
  auto cleaned = s.viztrace({"clean"});
  INFO(cleaned.out << cleaned.err);
  CHECK(cleaned.exit_code() == 0);
  CHECK(cleaned.out == "removed " + unfinished + " (0 files)\n");
  require_clean(s);
}

TEST_CASE("viztrace run inside a traced run runs its own session, and both reports are whole") {
  Sandbox s;
  auto r = s.viztrace({"run", "-o", "outer.json", "--", viztrace_bin(), "run", "-o", "inner.json",
                       "--", "sh", "-c", "ls / | wc -l >/dev/null; exit 9"});
  INFO(r.err);
  CHECK(r.exit_code() == 9);
  Report inner = s.report("inner.json");
  CHECK(inner.target().exit_code == 9);
  CHECK(inner.named("ls").size() == 1);
  CHECK(inner.named("wc").size() == 1);
  Report outer = s.report("outer.json");
  const Process inner_viztrace = outer.target();
  CHECK(inner_viztrace.name == "viztrace");
  CHECK(inner_viztrace.exit_code == 9);
  require_clean(s);
}

TEST_CASE("a killed viztrace leaves its trace for recover, and the next start would sweep it") {
  Sandbox s;
  auto run = s.start_viztrace({"run", "--", "sh", "-c", waiting_script(s, "go")});
  run->wait_for_out("ready");
  await_first_segment(s);
  auto children = children_of(run->pid());
  run->signal(SIGKILL);
  run->finish();
  REQUIRE(s.temp_leftovers().size() == 1);  // SIGKILL cannot be caught: the dir stays
  s.write_file("go", "");                  // let the orphaned command end
  for (pid_t c : children) await_exit(c);

  SECTION("recover writes its report, then sweeps it") {
    auto r = s.viztrace({"recover", "-o", "recovered.json"});
    INFO(r.err);
    CHECK(r.exit_code() == 0);
    CHECK(r.err.find("recovering the trace left in") != std::string::npos);
    Report rep = s.report("recovered.json");
    CHECK(rep.target().name == "sh");
    auto again = s.viztrace({"recover", "-o", "again.json"});
    CHECK(again.exit_code() == 0);
    CHECK(again.err.find("no trace to recover") != std::string::npos);
    CHECK_FALSE(fs::exists(s.path("again.json")));
  }
  SECTION("the next start sweeps it") {
    auto r = s.viztrace({"run", "--", "true"});
    CHECK(r.exit_code() == 0);
  }
  SECTION("clean --dry-run lists it, clean removes it") {
    auto dry = s.viztrace({"clean", "--dry-run"});
    CHECK(dry.out.find("would remove " + s.tmp() + "/viztrace-") != std::string::npos);
    CHECK(s.temp_leftovers().size() == 1);
    auto wet = s.viztrace({"clean"});
    CHECK(wet.out.find("removed " + s.tmp() + "/viztrace-") != std::string::npos);
  }
  require_clean(s);
}

TEST_CASE("kept trace data: run --keep-temp, then report DIR, then clean --kept") {
  Sandbox s;
  auto r = s.viztrace({"run", "-o", "direct.json", "--keep-temp", "--", "sh", "-c", "exit 3"});
  CHECK(r.exit_code() == 3);
  auto left = s.temp_leftovers();
  REQUIRE(left.size() == 1);
  std::string kept = s.tmp() + "/" + left[0];
  CHECK(r.err.find("kept the trace data in " + kept) != std::string::npos);
  // Not an orphan: the next start leaves it alone.
  CHECK(s.viztrace({"run", "-q", "--", "true"}).exit_code() == 0);
  CHECK(s.temp_leftovers().size() == 1);
  auto rep = s.viztrace({"report", kept, "-o", "later.json"});
  INFO(rep.err);
  CHECK(rep.exit_code() == 0);
  CHECK(s.report("later.json").target().exit_code == 3);
  CHECK(s.report("later.json").processes.size() == s.report("direct.json").processes.size());
  auto cleaned = s.viztrace({"clean", "--kept"});
  CHECK(cleaned.out.find("removed " + kept) != std::string::npos);
  require_clean(s);
}

TEST_CASE("sweeping never follows a symbolic link and never leaves the session dir") {
  Sandbox s;
  // Outside the temp root: things a careless sweeper would destroy.
  fs::create_directory(s.path("precious"));
  s.write_file("precious/data", "keep me\n");
  // An orphan-looking dir whose entries are links out of it, and a link named like a session.
  std::string orphan = s.tmp() + "/viztrace-Aa1Bb2";
  fs::create_directory(orphan);
  fs::create_symlink(s.path("precious/data"), orphan + "/spill-000000.vzs");
  fs::create_symlink(s.path("precious"), orphan + "/fifo");
  fs::create_directory(orphan + "/planted-dir");
  s.write_file("precious/inner", "also keep me\n");
  fs::create_symlink(s.path("precious"), s.tmp() + "/viztrace-Cc3Dd4");

  auto r = s.viztrace({"clean"});
  INFO(r.out << r.err);
  // The links are gone, what they pointed to is not; the planted directory is left and said so.
  CHECK(slurp(s.path("precious/data")) == "keep me\n");
  CHECK(slurp(s.path("precious/inner")) == "also keep me\n");
  CHECK_FALSE(fs::exists(fs::symlink_status(orphan + "/fifo")));
  CHECK_FALSE(fs::exists(fs::symlink_status(orphan + "/spill-000000.vzs")));
  CHECK(fs::is_directory(orphan + "/planted-dir"));
  CHECK(r.err.find("planted-dir/ (a directory: not ours)") != std::string::npos);
  CHECK(r.exit_code() == 2);
  CHECK(fs::is_symlink(s.tmp() + "/viztrace-Cc3Dd4"));  // a link is never taken for a session
  fs::remove(orphan + "/planted-dir");
  fs::remove(orphan);
  fs::remove(s.tmp() + "/viztrace-Cc3Dd4");
  require_clean(s);
}

TEST_CASE("Ctrl+C in a real terminal (tmux): target stopped, report written, prompt back") {
  if (!on_path("tmux")) {
    VT_SKIP("tmux is missing (scripts/setup --tests installs it)");
  }
  Sandbox s;
  std::string socket = s.path("tmux.sock");
  auto tmux = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"tmux", "-S", socket});
    return args;
  };
  // The pane runs a small wrapper as the terminal's foreground job, like a shell would: it
  // catches SIGINT itself (a handler, so viztrace still starts with the default action), runs
  // viztrace, and writes down how it ended. tmux's wait-for channels order the steps.
  s.write_file("wrapper.py",
               "import signal, subprocess, sys\n"
               "signal.signal(signal.SIGINT, lambda *a: None)\n"
               "tmux = ['tmux', '-S', sys.argv[1]]\n"
               "subprocess.run(tmux + ['wait-for', 'go'])\n"
               "r = subprocess.run(sys.argv[2:])\n"
               "open('status', 'w').write(str(r.returncode) + '\\n')\n"
               "subprocess.run(tmux + ['wait-for', '-S', 'done'])\n"
               "signal.pause()\n");
  std::string target = "tmux -S " + socket + " wait-for -S ready; read line; echo never";
  Options o;
  o.env["TMPDIR"] = s.tmp();
  auto session = s.command(tmux({"new-session", "-d", "-x", "120", "-y", "30", "python3",
                                 s.path("wrapper.py"), socket, viztrace_bin(), "run", "--", "sh",
                                 "-c", target}),
                           o);
  REQUIRE(session.exit_code() == 0);
  auto ready = s.start(tmux({"wait-for", "ready"}));
  auto done = s.start(tmux({"wait-for", "done"}));
  REQUIRE(s.command(tmux({"wait-for", "-S", "go"})).exit_code() == 0);
  REQUIRE(ready->finish(30).exit_code() == 0);
  s.command(tmux({"send-keys", "C-c"}));
  REQUIRE(done->finish(30).exit_code() == 0);
  std::string screen = s.command(tmux({"capture-pane", "-p", "-J", "-S", "-50"})).out;
  s.command(tmux({"kill-server"}));
  INFO(screen);
  CHECK(slurp(s.path("status")) == std::to_string(-SIGINT) + "\n");  // died of SIGINT
  CHECK(screen.find("was killed by SIGINT") != std::string::npos);
  CHECK(s.report().target().signal == SIGINT);
  require_clean(s);
}

TEST_CASE("recover refuses a trace of another wire version in one line, and keeps it") {
  Sandbox s;
  leave_orphan(s);
  const std::string name = s.temp_leftovers()[0];
  const std::string segment = s.tmp() + "/" + name + "/" + viztrace::spill::segment_name(0);
  const std::string good = slurp(segment);
  std::string doctored = good;
  const std::uint32_t older = VT_WIRE_VERSION - 1;
  std::memcpy(&doctored[offsetof(viztrace::spill::SegmentHeader, wire_version)], &older,
              sizeof older);
  auto put = [&](const std::string& bytes) {
    std::ofstream(segment, std::ios::binary | std::ios::trunc) << bytes;
  };
  put(doctored);
  auto r = s.viztrace({"recover", "-o", "r.json"});
  INFO(r.err);
  CHECK(r.exit_code() == 2);
  const std::string refusal = "/" + name + "/spill-000000.vzs: trace data of wire version " +
                              std::to_string(older) + ", this viztrace reads version " +
                              std::to_string(VT_WIRE_VERSION) + "\n";
  CHECK(r.err.ends_with(refusal));
  const std::string last_line = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  CHECK(last_line.starts_with("viztrace: "));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 2);  // "recovering ...", the refusal
  CHECK_FALSE(fs::exists(s.path("r.json")));
  CHECK(s.temp_leftovers() == std::vector<std::string>{name});  // for a viztrace that reads it

  put(good);
  CHECK(s.viztrace({"recover", "-q", "-o", "r.json"}).exit_code() == 0);
  CHECK(fs::exists(s.path("r.json")));
  require_clean(s);
}
