// Quoting a command for the user: what a shell reads back is the argv that ran.
#include "report/model/shell_words.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>
#include <vector>

using viztrace::report::shell_command;
using viztrace::report::shell_word;

namespace {

// The words bash makes of `printf '%s\0' <line>`, NUL-separated.
std::string bash_words(const std::string& line) {
  std::string script = "printf '%s\\0' " + line;
  int out[2];
  REQUIRE(pipe(out) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(out[1], 1);
    close(out[0]);
    execlp("bash", "bash", "--norc", "-c", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(out[1]);
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) > 0;) text.append(buf, n);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return text;
}

}  // namespace

TEST_CASE("shell words: quoted only where a shell would read something into them") {
  CHECK(shell_word("make") == "make");
  CHECK(shell_word("-j8") == "-j8");
  CHECK(shell_word("a b") == "'a b'");
  CHECK(shell_word("") == "''");
  CHECK(shell_word("it's") == "'it'\\''s'");
  CHECK(shell_word("x=1") == "x=1");
  CHECK(shell_word("x=1", true) == "'x=1'");
  CHECK(shell_word("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(shell_word("\x1b[31m") == "$'\\x1b[31m'");
  CHECK(shell_word("\\'\x7f") == "$'\\\\\\'\\x7f'");
  CHECK(shell_command({"a", "b c", "d"}) == "a 'b c' d");
  CHECK(shell_command({"abc", "def"}, 5) == "ab...");
}

TEST_CASE("shell words: bash reads back the very bytes of every word") {
  if (access("/bin/bash", X_OK) != 0) {
    WARN("bash is missing");
    return;
  }
  std::vector<std::string> words = {
      "plain",    "",         " ",        "it's", "''",          "\"",   "\\",
      "$HOME",    "`id`",     "$(id)",    "*",    "~",           "#",    "a;b",
      "a|b&c",    "{a,b}",    "!x",       "x=1",  "caf\xc3\xa9", "\t\n", "\x1b[2J",
      "\xff\xfe", "\xc2\x9b", "a'\x01'b", "\x7f", "100%"};
  std::string expected;
  for (const std::string& w : words) expected += w + '\0';
  CHECK(bash_words(shell_command(words)) == expected);
}
