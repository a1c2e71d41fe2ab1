// User-facing errors.
//
// A UserError is a mistake in what the user gave us (a file, a line, a config key, a checkpoint):
// the CLI prints its message alone, without a stack trace, and exits with code 2. Anything else
// that escapes is a bug in lmforge and exits with code 1.
// Messages name the place (file:line, config key) and what was expected.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace lmforge {

class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& what) : std::runtime_error(what) {}
};

// Errors in the config: unknown key, wrong type, value out of range.
class ConfigError : public UserError {
 public:
  explicit ConfigError(const std::string& what) : UserError(what) {}
};

// Errors in input files: missing, unreadable, malformed.
class InputError : public UserError {
 public:
  explicit InputError(const std::string& what) : UserError(what) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... R>
void append(std::ostringstream& os, const T& t, const R&... r) {
  os << t;
  append(os, r...);
}
}  // namespace detail

// Builds a message from pieces: str("line ", n, ": expected ", what).
template <class... A>
std::string str(const A&... a) {
  std::ostringstream os;
  detail::append(os, a...);
  return os.str();
}

}  // namespace lmforge

// Throws ErrorType with the message when the condition fails.
#define LMF_REQUIRE(cond, ErrorType, ...)                 \
  do {                                                    \
    if (!(cond)) throw ErrorType(::lmforge::str(__VA_ARGS__)); \
  } while (0)
