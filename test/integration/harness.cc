#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "simdjson.h"

namespace fs = std::filesystem;

namespace vt_test {

std::string viztrace_bin() {
  const char* env = std::getenv("VIZTRACE_BIN");
  return env && *env ? env : VIZTRACE_BIN;
}

std::string fixture(const std::string& name) {
  return std::string(FIXTURE_DIR) + "/" + name;
}

bool Result::exited() const {
  return WIFEXITED(status);
}
int Result::exit_code() const {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
int Result::signal() const {
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

namespace {

double now_s() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

void drain(int fd, std::string& into) {
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) into.append(buf, static_cast<size_t>(n));
}

}  // namespace

Running::Running(const std::vector<std::string>& argv, const std::string& cwd,
                 const std::string& tmp, const Options& o)
    : own_group_(o.own_group) {
  int out[2], err[2], in[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  REQUIRE(pipe2(in, O_CLOEXEC) == 0);
  pid_ = fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    if (o.own_group) setpgid(0, 0);
    dup2(in[0], 0);
    dup2(out[1], 1);
    if (o.close_stderr)
      close(2);
    else
      dup2(err[1], 2);
    if (chdir(cwd.c_str()) != 0) _exit(126);
    setenv("TMPDIR", tmp.c_str(), 1);
    for (const auto& name : o.unset) unsetenv(name.c_str());
    for (const auto& [k, v] : o.env) setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  if (o.own_group) setpgid(pid_, pid_);  // either side may win the race; both set the same
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!o.stdin_data.empty()) {
    ssize_t w = write(in[1], o.stdin_data.data(), o.stdin_data.size());
    (void)w;
  }
  close(in[1]);
  out_ = out[0];
  err_ = err[0];
  fcntl(out_, F_SETFL, O_NONBLOCK);
  fcntl(err_, F_SETFL, O_NONBLOCK);
  pidfd_ = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
  REQUIRE(pidfd_ >= 0);
}

Running::~Running() {
  if (!reaped_ && pid_ > 0) {
    if (own_group_) kill(-pid_, SIGKILL);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  for (int fd : {out_, err_, pidfd_})
    if (fd >= 0) close(fd);
}

bool Running::pump(double timeout_s) {
  pollfd fds[3] = {{out_, POLLIN, 0}, {err_, POLLIN, 0}, {pidfd_, POLLIN, 0}};
  poll(fds, 3, static_cast<int>(timeout_s * 1000) + 1);
  drain(out_, r_.out);
  drain(err_, r_.err);
  return fds[2].revents != 0;
}

void Running::wait_for_out(const std::string& text, double timeout_s) {
  double deadline = now_s() + timeout_s;
  while (r_.out.find(text) == std::string::npos) {
    INFO("waiting for '" << text << "' on stdout; stderr so far:\n" << r_.err);
    REQUIRE(now_s() < deadline);
    if (pump(0.05) && r_.out.find(text) == std::string::npos) {
      pump(0);
      if (r_.out.find(text) == std::string::npos) FAIL("ended before printing " << text);
    }
  }
}

void Running::wait_for_err(const std::string& text, double timeout_s) {
  double deadline = now_s() + timeout_s;
  while (r_.err.find(text) == std::string::npos) {
    INFO("waiting for '" << text << "' on stderr; stderr so far:\n" << r_.err);
    REQUIRE(now_s() < deadline);
    if (pump(0.05) && r_.err.find(text) == std::string::npos) {
      pump(0);
      if (r_.err.find(text) == std::string::npos) FAIL("ended before printing " << text);
    }
  }
}

void Running::signal(int sig) {
  REQUIRE(kill(pid_, sig) == 0);
}

void Running::signal_group(int sig) {
  REQUIRE(own_group_);
  REQUIRE(kill(-pid_, sig) == 0);
}

Result Running::finish(double timeout_s) {
  double deadline = now_s() + timeout_s;
  while (!pump(std::min(1.0, std::max(0.0, deadline - now_s())))) {
    if (now_s() >= deadline) {
      if (own_group_) kill(-pid_, SIGKILL);
      kill(pid_, SIGKILL);
      waitpid(pid_, &r_.status, 0);
      reaped_ = true;
      FAIL("timed out after " << timeout_s << " s\nstderr:\n" << r_.err);
    }
  }
  REQUIRE(waitpid(pid_, &r_.status, 0) == pid_);
  reaped_ = true;
  // Descendants may still hold the pipes; take what is there and stop.
  drain(out_, r_.out);
  drain(err_, r_.err);
  return r_;
}

namespace {

Result run_process(const std::vector<std::string>& argv, const std::string& cwd,
                   const std::string& tmp, const Options& o) {
  Running run(argv, cwd, tmp, o);
  return run.finish(o.timeout_s);
}

}  // namespace

std::string slurp(const std::string& path) {
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    gzFile f = gzopen(path.c_str(), "rb");
    REQUIRE(f != nullptr);
    std::string data;
    char buf[65536];
    int n;
    while ((n = gzread(f, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
    REQUIRE(n == 0);
    gzclose(f);
    return data;
  }
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : fs::directory_iterator(dir)) {
    std::ifstream in(task.path() / "children");
    for (pid_t child; in >> child;) out.push_back(child);
  }
  return out;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    if (access((dirs.substr(start, end - start) + "/" + program).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

void await_exit(pid_t pid, double timeout_s) {
  int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return;  // already gone
  pollfd p = {fd, POLLIN, 0};
  int n = poll(&p, 1, static_cast<int>(timeout_s * 1000));
  close(fd);
  REQUIRE(n == 1);
}

Sandbox::Sandbox() {
  char templ[] = "/tmp/vt-sandbox-XXXXXX";
  REQUIRE(mkdtemp(templ) != nullptr);
  root_ = templ;
  tmp_ = root_ + "/tmp";
  dir_ = root_ + "/work";
  fs::create_directory(tmp_);
  fs::create_directory(dir_);
}

Sandbox::~Sandbox() {
  std::error_code ec;
  fs::remove_all(root_, ec);
}

Result Sandbox::viztrace(const std::vector<std::string>& args, const Options& o) const {
  std::vector<std::string> argv = {viztrace_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, dir_, tmp_, o);
}

Result Sandbox::command(const std::vector<std::string>& argv, const Options& o) const {
  return run_process(argv, dir_, tmp_, o);
}

std::unique_ptr<Running> Sandbox::start_viztrace(const std::vector<std::string>& args,
                                                 const Options& o) const {
  std::vector<std::string> argv = {viztrace_bin()};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<Running>(argv, dir_, tmp_, o);
}

std::unique_ptr<Running> Sandbox::start(const std::vector<std::string>& argv,
                                        const Options& o) const {
  return std::make_unique<Running>(argv, dir_, tmp_, o);
}

std::vector<std::string> Sandbox::temp_leftovers() const {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(tmp_)) out.push_back(e.path().filename());
  return out;
}

void Sandbox::write_file(const std::string& name, const std::string& content,
                         bool executable) const {
  std::string p = path(name);
  fs::create_directories(fs::path(p).parent_path());
  std::ofstream(p, std::ios::binary) << content;
  if (executable) chmod(p.c_str(), 0755);
}

std::vector<Process> Report::named(const std::string& base) const {
  std::vector<Process> out;
  for (const auto& p : processes) {
    if (p.argv.empty()) continue;
    const std::string& a0 = p.argv[0];
    auto slash = a0.rfind('/');
    if ((slash == std::string::npos ? a0 : a0.substr(slash + 1)) == base) out.push_back(p);
  }
  return out;
}

const Process* Report::find_pid(long long pid) const {
  for (const auto& p : processes)
    if (p.pid == pid) return &p;
  return nullptr;
}

const Process* Report::parent_of(const Process& child) const {
  const Process* last = nullptr;
  for (const auto& p : processes) {
    if (p.pid != child.ppid) continue;
    if (p.ts <= child.ts && child.ts <= p.ts + p.dur) return &p;
    if (!last || p.ts > last->ts) last = &p;
  }
  return last;
}

Process Report::target() const {
  std::vector<Process> found;
  for (const auto& p : processes)
    if (p.target) found.push_back(p);
  REQUIRE(found.size() == 1);
  return found[0];
}

Report Sandbox::report(const std::string& name) const {
  Report rep;
  rep.raw = slurp(name.size() && name[0] == '/' ? name : path(name));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  auto error = parser.parse(rep.raw).get(doc);
  INFO("report " << name);
  REQUIRE(error == simdjson::SUCCESS);
  simdjson::dom::array events;
  REQUIRE(doc["traceEvents"].get(events) == simdjson::SUCCESS);
  for (simdjson::dom::element e : events) {
    std::string_view ph, cat, ename;
    REQUIRE(e["ph"].get(ph) == simdjson::SUCCESS);
    int64_t pid = 0, tid = 0;
    REQUIRE(e["pid"].get(pid) == simdjson::SUCCESS);
    REQUIRE(e["tid"].get(tid) == simdjson::SUCCESS);
    if (e["cat"].get(cat) != simdjson::SUCCESS) cat = "";
    if (e["name"].get(ename) != simdjson::SUCCESS) ename = "";
    if (ph == "M" && ename == "thread_name") {
      std::string_view n;
      if (e["args"]["name"].get(n) == simdjson::SUCCESS) rep.thread_names[{pid, tid}] = n;
      continue;
    }
    if (ph != "X") continue;
    double ts = 0, dur = 0;
    REQUIRE(e["ts"].get(ts) == simdjson::SUCCESS);
    REQUIRE(e["dur"].get(dur) == simdjson::SUCCESS);
    if (cat == "process") {
      Process p;
      p.pid = pid;
      p.tid = tid;
      p.name = ename;
      p.ts = ts;
      p.dur = dur;
      simdjson::dom::element args = e["args"];
      int64_t v;
      if (args["pid"].get(v) == simdjson::SUCCESS) p.pid = v;
      if (args["ppid"].get(v) == simdjson::SUCCESS) p.ppid = v;
      if (args["exit_code"].get(v) == simdjson::SUCCESS) p.exit_code = v;
      if (args["ns_pid"].get(v) == simdjson::SUCCESS) p.ns_pid = v;
      if (args["signal"].get(v) == simdjson::SUCCESS) p.signal = v;
      bool traced;
      if (args["traced"].get(traced) == simdjson::SUCCESS) p.traced = traced;
      bool target;
      if (args["target"].get(target) == simdjson::SUCCESS) p.target = target;
      std::string_view sv;
      if (args["exe"].get(sv) == simdjson::SUCCESS) p.exe = sv;
      if (args["started_by"].get(sv) == simdjson::SUCCESS) p.started_by = sv;
      simdjson::dom::array argv;
      if (args["argv"].get(argv) == simdjson::SUCCESS)
        for (simdjson::dom::element a : argv) p.argv.emplace_back(std::string_view(a));
      rep.processes.push_back(std::move(p));
    } else if (cat == "thread") {
      rep.threads.push_back({pid, tid, std::string(ename), ts, dur});
    }
  }
  return rep;
}

std::vector<StracedExec> strace_execs(const std::string& prefix) {
  std::vector<StracedExec> execs;
  const std::filesystem::path base(prefix);
  for (const auto& entry : std::filesystem::directory_iterator(base.parent_path())) {
    if (!entry.path().filename().string().starts_with(base.filename().string() + ".")) continue;
    std::ifstream in(entry.path());
    for (std::string line; std::getline(in, line);) {
      auto at = line.find("execve(\"");
      if (at == std::string::npos || line.find(") = 0") == std::string::npos) continue;
      StracedExec e;
      e.path = line.substr(at + 8, line.find('"', at + 8) - at - 8);
      if (auto arg0 = line.find("[\"", at); arg0 != std::string::npos)
        e.arg0 = line.substr(arg0 + 2, line.find('"', arg0 + 2) - arg0 - 2);
      execs.push_back(std::move(e));
    }
  }
  return execs;
}

// Waits until a session's spill (of a viztrace running with s's temp root) holds `text`: what
// the FIFO held before is then on disk, and survives a SIGKILL of viztrace.
static void await_spilled(const Sandbox& s, const std::string& text) {
  auto spilled = s.command({"sh", "-c",
                            "for i in $(seq 1000); do grep -qs \"$1\" \"$0\"/viztrace-*/spill-* "
                            "&& exit 0; sleep 0.01; done; exit 1",
                            s.tmp(), text});
  REQUIRE(spilled.exit_code() == 0);
}

void kill_then_recover(const Sandbox& s, Running& run) {
  // Lifecycle records still in the FIFO die with a killed viztrace: wait until the modules the
  // ring announced are in the spill, so the calls can be named and placed.
  await_spilled(s, "libc.so");
  auto children = children_of(run.pid());
  REQUIRE(children.size() == 1);
  run.signal(SIGKILL);
  run.finish();
  await_exit(children[0], 30);
  auto r = s.viztrace({"recover", "-q", "-o", "r.json"});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
}

void compile(const Sandbox& s, const std::vector<std::string>& argv) {
  auto cc = s.command(argv);
  INFO(cc.err);
  REQUIRE(cc.exit_code() == 0);
}

Result straced(const Sandbox& s, const std::vector<std::string>& argv, const std::string& prefix,
               const Options& o) {
  std::filesystem::create_directories(std::filesystem::path(prefix).parent_path());
  std::vector<std::string> full = {"strace", "-ff", "-qq", "-e", "trace=execve",
                                   "-e", "signal=none", "-o", prefix};
  full.insert(full.end(), argv.begin(), argv.end());
  return s.command(full, o);
}

void leave_orphan(const Sandbox& s) {
  auto run = s.start_viztrace({"run", "--", "sh", "-c", "echo ready; exec sleep 30"});
  run->wait_for_out("ready");
  // Killed once something is on disk: a dir without spill is nothing to recover.
  REQUIRE(s.temp_leftovers().size() == 1);
  const std::string spill = s.tmp() + "/" + s.temp_leftovers()[0] + "/spill-000000.vzs";
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!(std::filesystem::exists(spill) && std::filesystem::file_size(spill) > 0)) {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto children = children_of(run->pid());
  run->signal(SIGKILL);
  run->finish();
  for (pid_t c : children) kill(c, SIGKILL);
  for (pid_t c : children) await_exit(c);
  REQUIRE(s.temp_leftovers().size() == 1);
}

void require_clean(const Sandbox& s) {
  auto left = s.temp_leftovers();
  INFO("left in TMPDIR: " << (left.empty() ? "" : left.front()));
  REQUIRE(left.empty());
}

}  // namespace vt_test
