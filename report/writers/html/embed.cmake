# Turns a file into C++ source defining it as bytes, so the binary needs no file at run time:
#   cmake -DIN=<file> -DOUT=<file.cc> -DNAME=<symbol> -P embed.cmake
# defines viztrace::report::<NAME> (the bytes, plus a NUL) and <NAME>Size.
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR size "${digits} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUT}.tmp"
  "// Generated from ${IN} by embed.cmake. Do not edit.\n"
  "#include <cstddef>\n"
  "namespace viztrace::report {\n"
  "extern const unsigned char ${NAME}[] = {${bytes}0};\n"
  "extern const std::size_t ${NAME}Size = ${size};\n"
  "}  // namespace viztrace::report\n")
file(RENAME "${OUT}.tmp" "${OUT}")
