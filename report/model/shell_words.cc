#include "report/model/shell_words.h"

#include <string_view>

#include "report/model/utf8.h"

namespace viztrace::report {
namespace {

// Characters that mean nothing to a shell anywhere in a word (as Python's shlex.quote has it;
// '=' only outside the first word).
bool plain(unsigned char c, bool first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  if (c == '=') return !first;
  return std::string_view("_@%+:,./-").find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace

std::string shell_word(std::string_view word, bool first) {
  const auto* p = reinterpret_cast<const unsigned char*>(word.data());
  const std::size_t n = word.size();
  bool bare = n > 0, visible = true;
  for (std::size_t i = 0; i < n;) {
    std::size_t len = printable_length(p + i, n - i);
    if (len == 0) {
      visible = false;
      break;
    }
    // Letters beyond ASCII are word characters to every shell.
    if (len == 1 && !plain(p[i], first)) bare = false;
    i += len;
  }
  if (bare && visible) return std::string(word);
  std::string out;
  if (visible) {
    out += '\'';
    for (char c : word) {
      if (c == '\'') out += "'\\'";  // a quote ends the quoting, comes quoted, and it goes on
      out += c;
    }
    return out + '\'';
  }
  static constexpr char kHex[] = "0123456789abcdef";
  out = "$'";
  for (std::size_t i = 0; i < n;) {
    std::size_t len = printable_length(p + i, n - i);
    if (len == 0) {
      for (char c : {'\\', 'x', kHex[p[i] >> 4], kHex[p[i] & 15]}) out += c;
      ++i;
      continue;
    }
    if (p[i] == '\'' || p[i] == '\\') out += '\\';
    out.append(word.data() + i, len);
    i += len;
  }
  return out + '\'';
}

std::string shell_command(const std::vector<std::string>& argv, std::size_t columns) {
  std::string out;
  std::vector<std::size_t> ends;  // ends[i]: the bytes of out that show the first i+1 columns
  for (std::size_t a = 0; a < argv.size() && (columns == 0 || ends.size() <= columns); ++a) {
    if (a > 0) out += ' ', ends.push_back(out.size());
    std::size_t from = out.size();
    out += shell_word(argv[a], a == 0);
    // What shell_word returns is printable UTF-8: one column per character.
    const auto* p = reinterpret_cast<const unsigned char*>(out.data());
    for (std::size_t i = from; i < out.size();) {
      i += utf8_sequence_length(p + i, out.size() - i);
      ends.push_back(i);
    }
  }
  if (columns == 0 || ends.size() <= columns) return out;
  std::size_t keep = columns > 3 ? columns - 3 : 0;
  out.resize(keep > 0 ? ends[keep - 1] : 0);
  return out + "...";
}

}  // namespace viztrace::report
