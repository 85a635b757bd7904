// Names and one-line renderings of runtime errors.
// Kept in one place so the CLI, the executor protocol and the tests agree on wording.
#include "runtime/error.h"

namespace velum {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalidModule:
      return "invalid module";
    case ErrorKind::kExportNotFound:
      return "export not found";
    case ErrorKind::kBadArguments:
      return "bad arguments";
    case ErrorKind::kTrap:
      return "trap";
    case ErrorKind::kDeadlineExceeded:
      return "deadline exceeded";
    case ErrorKind::kMemoryLimitExceeded:
      return "memory limit exceeded";
    case ErrorKind::kExecutorCrashed:
      return "executor crashed";
    case ErrorKind::kCompilerUnavailable:
      return "compiler unavailable";
    case ErrorKind::kCompilerFailed:
      return "compiler failed";
    case ErrorKind::kUnlinkable:
      return "unlinkable";
    case ErrorKind::kIo:
      return "i/o error";
    case ErrorKind::kInternal:
      return "internal error";
    case ErrorKind::kCancelled:
      return "cancelled";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kLimitExceeded:
      return "limit exceeded";
  }
  return "unknown error";
}

std::optional<ErrorKind> ErrorKindFromNumber(uint64_t number) {
  if (number > static_cast<uint64_t>(kLastErrorKind)) return std::nullopt;
  return static_cast<ErrorKind>(number);
}

std::optional<TrapKind> TrapKindFromNumber(uint64_t number) {
  if (number > static_cast<uint64_t>(kLastTrapKind)) return std::nullopt;
  return static_cast<TrapKind>(number);
}

const char* TrapKindName(TrapKind kind) {
  switch (kind) {
    case TrapKind::kNone:
      return "none";
    case TrapKind::kUnreachable:
      return "unreachable";
    case TrapKind::kIntegerDivideByZero:
      return "integer divide by zero";
    case TrapKind::kIntegerOverflow:
      return "integer overflow";
    case TrapKind::kOutOfBoundsMemory:
      return "out of bounds memory access";
    case TrapKind::kOutOfBoundsTable:
      return "out of bounds table access";
    case TrapKind::kIndirectCallMismatch:
      return "indirect call signature mismatch";
    case TrapKind::kUninitializedElement:
      return "uninitialized table element";
    case TrapKind::kStackExhausted:
      return "call stack exhausted";
    case TrapKind::kInvalidConversion:
      return "invalid conversion to integer";
    case TrapKind::kNullReference:
      return "null reference";
    case TrapKind::kOther:
      return "other";
  }
  return "unknown";
}

namespace {

// Messages quote what modules contain (import and export names may hold any character, newlines
// and terminal escapes included): control characters are shown escaped, so one error stays one
// line and cannot rewrite the user's terminal.
std::string OneLine(const std::string& text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

std::string Error::ToString() const {
  std::string out = ErrorKindName(kind);
  if (kind == ErrorKind::kTrap && trap != TrapKind::kNone) {
    out += ": ";
    out += TrapKindName(trap);
    return message.empty() || trap != TrapKind::kOther ? out : out + " (" + OneLine(message) + ")";
  }
  if (!message.empty()) out += ": " + OneLine(message);
  return out;
}

}  // namespace velum
