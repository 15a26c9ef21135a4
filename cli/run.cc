// viztrace run [options] -- prog args...
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <climits>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <memory>

#include "cli/commands.h"
#include "cli/end_like.h"
#include "cli/function_options.h"
#include "cli/number_options.h"
#include "cli/output_check.h"
#include "cli/shim_locator.h"
#include "core/collector.h"
#include "common/error.h"
#include "core/fn_rings.h"
#include "core/launcher.h"
#include "core/sampler.h"
#include "core/signal_guard.h"
#include "report/report.h"
#include "spdlog/spdlog.h"
#include "spill/orphaned_session.h"
#include "spill/session_dir.h"
#include "spill/spill_writer.h"

namespace viztrace::cli {
namespace {

// Longer than any wait for leftover processes could be meant; a bound keeps the ns finite.
constexpr double kMaxLingerSeconds = 3600;
// Deeper than any real stack (a frame takes 16 bytes at least: 16 MB of stack).
constexpr std::uint64_t kMaxStackDepth = 1'000'000;
constexpr std::uint64_t kDefaultSampleHz = 999;  // not a divisor of common timer rates
constexpr std::uint64_t kMaxSampleHz = 10'000;

struct RunOptions {
  std::string output = "viztrace.json";
  bool quiet = false;
  bool keep_temp = false;
  double linger_s = 2.0;
  std::uint64_t max_stack_depth = 0;  // 0: no limit
  std::uint32_t sample_hz = 0;    // 0: no sampling
  std::string clock = "auto";     // function timestamps: "auto" (the TSC when usable), "monotonic"
  report::FunctionFilter filter;
  std::vector<std::string> command;
};

// VIZTRACE_SAMPLE_METHOD: "perf" or "timer" only, for tests and for comparing the two; unset or
// "auto": perf_event_open, else the shim's timers.
SamplerOptions::Method sample_method() {
  const char* v = std::getenv("VIZTRACE_SAMPLE_METHOD");
  std::string m = v ? v : "auto";
  if (m == "auto" || m.empty()) return SamplerOptions::Method::automatic;
  if (m == "perf") return SamplerOptions::Method::perf;
  if (m == "timer") return SamplerOptions::Method::timer;
  throw Error("VIZTRACE_SAMPLE_METHOD: '" + m + "' is not auto, perf or timer");
}

int run_command(const RunOptions& o) {
  std::string shim = locate_shim();
  check_output_path(o.output);
  SignalGuard::install();
  // A CI runner that cancels a job terminates the shell that started us, which does not pass
  // it on: ask for a SIGHUP when our parent dies (nohup's ignored SIGHUP keeps us alive).
  pid_t parent = getppid();
  prctl(PR_SET_PDEATHSIG, SIGHUP);
  if (getppid() != parent) raise(SIGHUP);

  std::string temp_root = spill::SessionDir::default_temp_root();
  // What killed sessions (SIGKILL, power loss) left behind: their locks are free.
  using Kind = spill::OrphanedSession::Kind;
  for (Kind kind : {Kind::session, Kind::unfinished}) {
    for (auto& orphan : spill::OrphanedSession::claim_all(temp_root, kind)) {
      std::string problem;
      if (orphan.sweep(&problem)) spdlog::debug("swept {}", orphan.path());
      else spdlog::debug("cannot sweep {}: {}", orphan.path(), problem);
    }
  }
  auto dir = spill::SessionDir::create(temp_root);
  dir.make_fifo();
  // Read-write: the collector is then always a writer too, so the FIFO never reports hang-up.
  int fifo = open(dir.fifo_path().c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fifo < 0) throw system_error("cannot open " + dir.fifo_path());
  fcntl(fifo, F_SETPIPE_SZ, 1 << 20);  // fewer wake-ups; the default size is fine if refused
  int wake = open(dir.wake_path().c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (wake < 0) throw system_error("cannot open " + dir.wake_path());
  // Processes in other PID namespaces are placed by the hellos they send; without the socket
  // (or /proc) they are recorded under the pids they see.
  int hello = -1;
  struct stat pid_ns = {};
  if (stat("/proc/self/ns/pid", &pid_ns) == 0) {
    try {
      hello = dir.make_hello_socket();
    } catch (const Error& e) {
      spdlog::debug("{}", e.what());
    }
  }
  spill::SpillWriter spill(dir);
  spdlog::debug("session dir {}", dir.path());

  CollectorOptions copts;
  copts.linger_ns = static_cast<std::uint64_t>(o.linger_s * 1e9);
  copts.session_dir_fd = dir.fd();
  copts.wake_fd = wake;
  copts.hello_fd = hello;
  copts.tsc = o.clock == "auto" && tsc_usable();
  // Opened before the launch: the command inherits the events and they start at its exec.
  std::unique_ptr<Sampler> sampler;
  if (o.sample_hz > 0) {
    SamplerOptions sopts;
    sopts.hz = o.sample_hz;
    sopts.method = sample_method();
    sampler = std::make_unique<Sampler>(dir.fd(), sopts);
    copts.sampler = sampler.get();
  }
  Collector collector(fifo, spill, copts);
  std::vector<std::string> extra_env;
  // Without a TSC that ticks at one rate everywhere, function calls read CLOCK_MONOTONIC.
  extra_env.push_back(std::string(VT_ENV_CLOCK) + "=" + (copts.tsc ? "tsc" : "monotonic"));
  extra_env.push_back(std::string(VT_ENV_MAX_DEPTH) + "=" + std::to_string(o.max_stack_depth));
  if (hello >= 0)
    extra_env.push_back(std::string(VT_ENV_PID_NS) + "=" + std::to_string(pid_ns.st_ino));
  if (sampler && sampler->timers())
    extra_env.push_back(std::string(VT_ENV_SAMPLE) + "=" + std::to_string(o.sample_hz));
  char cwd[PATH_MAX];
  collector.begin(o.command, getcwd(cwd, sizeof cwd) ? cwd : "");
  Launched target;
  try {
    target = launch({o.command, preloadable_shim(shim, dir), dir.fifo_path(), extra_env});
  } catch (const LaunchError& e) {
    std::fprintf(stderr, "viztrace: %s\n", e.what());
    return e.status();
  }
  CollectorResult result = collector.run(target);
  sampler.reset();
  close(fifo);
  close(wake);
  if (hello >= 0) close(hello);
  dir.set_segments(spill.segments());

  SignalGuard::set_mode(SignalGuard::Mode::kReporting);
  bool report_ok = true;
  try {
    report::ReportOptions ropts;
    ropts.output = o.output;
    ropts.quiet = o.quiet;
    ropts.collector_stats = result.stats;
    ropts.filter = o.filter;
    report::write_report(dir.path(), ropts);
  } catch (const Error& e) {
    std::fprintf(stderr, "viztrace: %s\n", e.what());
    report_ok = false;
  }
  if (result.lingering > 0 && !o.quiet)
    std::fprintf(stderr, "viztrace: %zu process%s still running after the command ended (not traced further)\n",
                 result.lingering, result.lingering == 1 ? "" : "es");
  if (o.keep_temp) {
    std::string kept = dir.keep();
    std::fprintf(stderr,
                 "viztrace: kept the trace data in %s (viztrace report %s -o FILE; remove it "
                 "with viztrace clean --kept)\n",
                 kept.c_str(), kept.c_str());
  } else {
    dir.sweep();
  }
  int status = result.target_status;
  if (!result.target_reaped) status = W_EXITCODE(kViztraceFailed, 0);
  if (!report_ok && WIFEXITED(status) && WEXITSTATUS(status) == 0) return kViztraceFailed;
  end_like(status);
}

// "viztrace [global options] run [options] [--] command args...": the command starts at "--" or
// at the first word that is not an option of ours (or an option's value), so that
// `viztrace run make -j8` works and no option of the command is ever taken for ours.
int split_command(CLI::App* run, int argc, char** argv, std::vector<std::string>& command) {
  int i = subcommand_index(argc, argv);
  if (i == argc || run->get_name() != argv[i]) return argc;
  for (++i; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      command.assign(argv + i + 1, argv + argc);
      return i;
    }
    if (arg.size() < 2 || arg[0] != '-') break;
    if (arg.find('=') != std::string::npos) continue;
    const CLI::Option* opt = run->get_option_no_throw(arg);
    if (opt && opt->get_expected_min() > 0) ++i;  // skip its value
  }
  command.assign(argv + i, argv + argc);
  return i;
}

}  // namespace

Command add_run_command(CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* run = app.add_subcommand(
      "run",
      "Run a command and trace every process and thread it starts.\n"
      "Usage: viztrace run [options] [--] command [args...]\n"
      "Exits with the command's status (128+N when a signal N killed it).");
  run->add_option("-o,--output", o->output,
                  "Report file; the format follows the extension: .json, .json.gz, .pftrace "
                  "(Perfetto),\n.html, .speedscope.json (speedscope)")
      ->capture_default_str();
  run->add_flag("-q,--quiet", o->quiet, "No summary on stderr");
  run->add_flag("--keep-temp", o->keep_temp,
                "Keep the raw trace data and print where it is (for debugging)");
  add_seconds_option(run, "--linger", o->linger_s, kMaxLingerSeconds,
                     "Seconds (0 to 3600) to wait for processes that outlive the command")
      ->default_str("2");
  add_whole_number_option(
      run, "--max-stack-depth", o->max_stack_depth, 1, kMaxStackDepth,
      "Functions: record calls at most N deep (deeper ones cost almost nothing); no limit "
      "without it",
      "without the option: no limit");
  run->add_option("--clock", o->clock,
                  "Functions: timestamps from the TSC when it ticks at one rate on every CPU "
                  "(auto), or always from CLOCK_MONOTONIC (monotonic: ~3x the cost per call here)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "monotonic"}));
  run->add_option_function<std::string>(
         "--sample",
         [o](const std::string& text) {
           std::uint64_t hz = kDefaultSampleHz;
           if (!text.empty()) {
             const char* end = text.data() + text.size();
             auto [rest, ec] = std::from_chars(text.data(), end, hz);
             if (ec != std::errc() || rest != end || hz < 1 || hz > kMaxSampleHz)
               throw CLI::ValidationError("--sample", "'" + text +
                                                          "' is not a whole number of samples "
                                                          "per second from 1 to " +
                                                          std::to_string(kMaxSampleHz));
           }
           o->sample_hz = static_cast<std::uint32_t>(hz);
         },
         "Sample the call stacks of every process and thread, HZ times per second of each "
         "thread's CPU time (default 999); write --sample=HZ for another rate")
      ->expected(0, 1)
      ->type_name("HZ");
  add_function_filter_options(run, o->filter);
  run->footer("Functions: programs built with -finstrument-functions (gcc, clang) show every\n"
              "function call as a slice, C++ names demangled.\n\n"
              "Examples:\n"
              "  viztrace run -- make -j8\n"
              "  viztrace run -o trace.json.gz ./run-tests.sh --fast\n"
              "Open the report in https://ui.perfetto.dev (Open trace file) or chrome://tracing.");
  return {run,
          [o] {
            if (o->command.empty())
              throw Error("run: no command given (viztrace run [options] -- command [args...])");
            return run_command(*o);
          },
          [o, run](int argc, char** argv) { return split_command(run, argc, argv, o->command); }};
}

}  // namespace viztrace::cli
