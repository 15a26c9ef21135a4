// A command shown to the user as a POSIX shell would take it back: each word bare when no shell
// would treat any of its characters specially, else in single quotes ('\'' for a quote inside).
// A word holding bytes that cannot be shown (control characters, invalid UTF-8) is written
// $'...' with \xNN escapes (POSIX.1-2024; bash, zsh, ksh, busybox sh), so nothing invisible
// reaches the terminal and a copied line still runs the same command.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace viztrace::report {

// One word; `first` for the command's name, where '=' would make it an assignment.
std::string shell_word(std::string_view word, bool first = false);

// The words quoted and joined by spaces, cut to at most `columns` characters (ending in "...")
// when columns is not 0.
std::string shell_command(const std::vector<std::string>& argv, std::size_t columns = 0);

}  // namespace viztrace::report
