// What ships beside the binary says what the binary does: the manual page (docs/viztrace.1)
// and the bash completion (completion/viztrace.bash) name every subcommand and every option
// that `viztrace --help` and each subcommand's --help list.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "harness.h"

using namespace vt_test;

namespace {

const std::string kManPage = std::string(VIZTRACE_SOURCE_DIR) + "/docs/viztrace.1";
const std::string kCompletion = std::string(VIZTRACE_SOURCE_DIR) + "/completion/viztrace.bash";

std::string help(const Sandbox& s, const std::vector<std::string>& args) {
  auto r = s.viztrace(args);
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  return r.out;
}

// The entries of a --help section ("Options:", "Subcommands:"): the first word of each line
// indented by two spaces, split at commas ("-o,--output TEXT=..." gives -o and --output).
std::vector<std::string> section(const std::string& text, const std::string& title) {
  std::vector<std::string> out;
  std::istringstream in(text);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line == title) {
      inside = true;
      continue;
    }
    if (!inside) continue;
    if (line.empty()) break;
    if (line.size() < 3 || line[0] != ' ' || line[1] != ' ' || line[2] == ' ') continue;
    std::string first = line.substr(2, line.find(' ', 2) - 2);
    std::istringstream names(first);
    for (std::string name; std::getline(names, name, ',');) out.push_back(name);
  }
  return out;
}

const std::vector<std::string>& subcommands(const Sandbox& s) {
  static const std::vector<std::string> subs = section(help(s, {"--help"}), "Subcommands:");
  return subs;
}

// The manual page as man shows it (roff's \- is a hyphen, font changes are spaces).
std::string man_text() {
  std::string text = std::regex_replace(slurp(kManPage), std::regex(R"(\\-)"), "-");
  return std::regex_replace(text, std::regex(R"(\\f[BIRP])"), " ");
}

// The part of the page from the line starting with heading to the next heading.
std::string man_part(const std::string& text, const std::string& heading) {
  auto start = text.find("\n" + heading);
  if (start == std::string::npos) return "";
  auto end = text.find("\n.S", start + 1);
  return text.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

std::set<std::string> words_of(const std::string& text) {
  std::set<std::string> words;
  std::regex word(R"(-{1,2}[A-Za-z][-A-Za-z]*|[A-Za-z][-A-Za-z]*)");
  for (std::sregex_iterator it(text.begin(), text.end(), word), end; it != end; ++it)
    words.insert(it->str());
  return words;
}

// What the completion offers for the words typed so far (the last one being completed).
std::vector<std::string> complete(const Sandbox& s, const std::vector<std::string>& words) {
  std::string script = ". '" + kCompletion + "'; COMP_WORDS=(";
  for (const auto& w : words) script += " '" + w + "'";
  script += "); COMP_CWORD=" + std::to_string(words.size() - 1) +
            "; _viztrace; printf '%s\\n' \"${COMPREPLY[@]}\"";
  auto r = s.command({"bash", "-c", script});
  INFO(r.err);
  REQUIRE(r.exit_code() == 0);
  std::vector<std::string> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

bool has(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

}  // namespace

TEST_CASE("the manual page covers every subcommand and option that --help lists") {
  Sandbox s;
  const std::string page = man_text();
  REQUIRE(subcommands(s).size() >= 10);
  // Options of viztrace itself (-h, --help, -v, ...) under GLOBAL OPTIONS, each subcommand's
  // own under its heading.
  auto global = words_of(man_part(page, ".SH GLOBAL OPTIONS"));
  for (const auto& option : section(help(s, {"--help"}), "Options:")) {
    INFO("viztrace " << option);
    CHECK(global.count(option));
  }
  for (const auto& sub : subcommands(s)) {
    INFO("viztrace " << sub);
    std::string part = man_part(page, ".SS \"viztrace " + sub + " ");
    CHECK(!part.empty());
    auto words = words_of(part);
    for (const auto& option : section(help(s, {sub, "--help"}), "Options:")) {
      INFO(option);
      if (option != "-h" && option != "--help") CHECK(words.count(option));
    }
  }
  // The version in its header is the binary's.
  std::string version = help(s, {"--version"});
  version = version.substr(version.rfind(' ') + 1);
  version.pop_back();  // the newline
  CHECK(page.find(".TH VIZTRACE 1 \"\" \"viztrace " + version + "\"") != std::string::npos);
  require_clean(s);
}

TEST_CASE("bash completion offers every subcommand and option, and reports by extension") {
  Sandbox s;
  auto first = complete(s, {"viztrace", ""});
  for (const auto& sub : subcommands(s)) {
    INFO(sub);
    CHECK(has(first, sub));
  }
  for (const auto& option : section(help(s, {"--help"}), "Options:")) {
    INFO(option);
    CHECK(has(first, option));
  }
  CHECK(complete(s, {"viztrace", "comb"}) == std::vector<std::string>{"combine"});
  for (const auto& sub : subcommands(s)) {
    auto offered = complete(s, {"viztrace", sub, "-"});
    for (const auto& option : section(help(s, {sub, "--help"}), "Options:")) {
      INFO("viztrace " << sub << " " << option);
      CHECK(has(offered, option));
    }
  }
  // Reports by extension (a directory too, to go into); a command after run's --.
  for (const char* name : {"a.json", "b.json.gz", "c.pftrace", "d.html", "e.txt", "f.jsonx"})
    s.write_file(name, "");
  std::filesystem::create_directory(s.path("sub"));
  auto outputs = complete(s, {"viztrace", "run", "-o", ""});
  std::sort(outputs.begin(), outputs.end());
  CHECK(outputs == std::vector<std::string>{"a.json", "b.json.gz", "c.pftrace", "d.html", "sub/"});
  auto inputs = complete(s, {"viztrace", "stats", ""});
  std::sort(inputs.begin(), inputs.end());
  CHECK(inputs == std::vector<std::string>{"a.json", "b.json.gz", "sub/"});
  CHECK(complete(s, {"viztrace", "run", "--clock", ""}) ==
        std::vector<std::string>{"auto", "monotonic"});
  CHECK(has(complete(s, {"viztrace", "run", "--", "s"}), "sh"));
  CHECK(has(complete(s, {"viztrace", "run", "-q", "s"}), "sh"));
  CHECK(has(complete(s, {"viztrace", "span", "build", "s"}), "sh"));
  require_clean(s);
}
