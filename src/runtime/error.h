// Typed errors of the runtime: every failure reaches the user as one clear line.
// Result<T> carries either a value or an Error; no exceptions cross module boundaries.
#ifndef VELUM_RUNTIME_ERROR_H_
#define VELUM_RUNTIME_ERROR_H_

#include <cassert>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace velum {

enum class ErrorKind {
  kInvalidModule,        // not wasm, truncated, or fails validation (wabt's message)
  kExportNotFound,       // the export does not exist or is not a function
  kBadArguments,         // arity or type mismatch, unparsable number
  kTrap,                 // the Wasm code trapped; see TrapKind
  kDeadlineExceeded,     // the call ran past its wall-clock deadline
  kMemoryLimitExceeded,  // linear memory would exceed the configured maximum
  kExecutorCrashed,      // the executor process died for another reason
  kCompilerUnavailable,  // no C compiler or wasm2c: the interpreter is used instead
  kCompilerFailed,       // wasm2c or the C compiler failed or timed out
  kUnlinkable,           // an import cannot be satisfied
  kIo,                   // file system or channel error
  kInternal,
  kCancelled,      // the caller gave up on the call (the executor was stopped)
  kUnavailable,    // no node can do it now: no workers, a peer lost mid-call
  kLimitExceeded,  // a configured limit other than memory: module size, queue, jobs
  // (the last: kLastErrorKind below names it; a new kind goes before it or moves that)
};

enum class TrapKind {
  kNone,
  kUnreachable,
  kIntegerDivideByZero,
  kIntegerOverflow,
  kOutOfBoundsMemory,
  kOutOfBoundsTable,
  kIndirectCallMismatch,
  kUninitializedElement,
  kStackExhausted,
  kInvalidConversion,
  kNullReference,
  kOther,  // the last: kLastTrapKind below names it
};

const char* ErrorKindName(ErrorKind kind);
const char* TrapKindName(TrapKind kind);

// Kinds travel as numbers (executor frames, remote call results). A number read from another
// process names a kind only if it is at most the last one; these are the one place that says
// so (nullopt: not a kind; the reader treats the frame as malformed or the error as internal).
inline constexpr ErrorKind kLastErrorKind = ErrorKind::kLimitExceeded;
inline constexpr TrapKind kLastTrapKind = TrapKind::kOther;
std::optional<ErrorKind> ErrorKindFromNumber(uint64_t number);
std::optional<TrapKind> TrapKindFromNumber(uint64_t number);

struct Error {
  ErrorKind kind = ErrorKind::kInternal;
  std::string message;
  TrapKind trap = TrapKind::kNone;

  // One line for the user, e.g. "trap: integer divide by zero".
  std::string ToString() const;
};

inline Error MakeError(ErrorKind kind, std::string message) {
  return Error{kind, std::move(message)};
}
inline Error MakeTrap(TrapKind trap, std::string message = {}) {
  return Error{ErrorKind::kTrap, std::move(message), trap};
}

// A value or an error. Small on purpose: ok(), value(), error(), and move-out.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const {
    assert(ok());
    return std::get<0>(v_);
  }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const T& operator*() const { return value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: success or an error.
class Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace velum

#endif  // VELUM_RUNTIME_ERROR_H_
