// Bytes <-> the frames of peer links beyond heartbeats (job assignments, reports, cancels,
// module transfers, remote calls) and the coordinator's journal records. Decoding is total:
// any input yields false or a message within the limits below; it never crashes.
#ifndef VELUM_WIRE_JOB_CODEC_H_
#define VELUM_WIRE_JOB_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/job_types.h"
#include "wire/codec.h"

namespace velum::wire {

// A module travels in pieces of this size; a link frame is never much larger.
constexpr size_t kModulePiece = 1 << 20;
constexpr size_t kMaxLinkMessageBytes = kModulePiece + 4096;
constexpr size_t kMaxCallValues = 64;

struct ModuleRequest {
  core::ModuleDigest hash{};
  bool operator==(const ModuleRequest&) const = default;
};
struct ModuleData {
  core::ModuleDigest hash{};
  uint64_t total = 0;
  uint64_t offset = 0;
  std::string data;   // at most kModulePiece bytes; offset + size <= total
  std::string error;  // the sender cannot provide the module (then data is empty)
  bool operator==(const ModuleData&) const = default;
};

// A typed Wasm value as it crosses a link: i32, i64, f32, f64 only (type 0..3).
struct WireValue {
  uint32_t type = 0;
  uint64_t bits = 0;
  bool operator==(const WireValue&) const = default;
};
struct CallRequest {
  uint64_t id = 0;
  core::ModuleDigest module{};
  uint64_t module_size = 0;
  std::string func;
  std::vector<WireValue> args;
  uint32_t timeout_ms = 0;
  uint32_t max_memory_pages = 0;
  bool operator==(const CallRequest&) const = default;
};
struct CallResult {
  uint64_t id = 0;
  std::vector<WireValue> values;
  bool has_error = false;
  core::TaskError error;
  uint64_t run_us = 0;
  std::string engine;
  bool operator==(const CallResult&) const = default;
};
struct CallCancel {
  uint64_t id = 0;
  bool operator==(const CallCancel&) const = default;
};

// Remote WASI commands (`wasm [OPTIONS] FILE ARGS`). The limits keep a request within one
// frame and a worker's disk and a caller's folder bounded; files travel in kModulePiece
// pieces, pulled one request at a time, so neither side queues more than a piece per file.
constexpr size_t kMaxCommandArgs = 4096;               // argv and environment entries together
constexpr size_t kMaxCommandArgBytes = 256 << 10;      // their bytes together
constexpr size_t kMaxCommandDirs = 16;                 // read-only directories sent
constexpr size_t kMaxCommandFiles = 1024;              // files in them, and files back from /out
constexpr size_t kMaxCommandPathBytes = 512;           // a file's path under its directory
constexpr uint64_t kMaxCommandInputBytes = 256 << 20;  // the inputs together (stdin included)
constexpr uint64_t kMaxCommandOutBytes = 256 << 20;    // the files of /out together
constexpr size_t kCommandOutputPiece = 64 << 10;       // output bytes per CommandOutput frame

struct FileRef {
  uint32_t dir = 0;
  std::string path;
  core::ModuleDigest hash{};
  uint64_t size = 0;
  bool operator==(const FileRef&) const = default;
};
struct CommandRequest {
  uint64_t id = 0;
  core::ModuleDigest module{};
  uint64_t module_size = 0;
  std::vector<std::string> args, env, dirs;
  std::vector<FileRef> inputs;
  std::optional<FileRef> stdin_file;
  bool out = false;
  uint32_t timeout_ms = 0;
  uint32_t max_memory_pages = 0;
  bool operator==(const CommandRequest&) const = default;
};
struct CommandOutput {
  uint64_t id = 0;
  uint32_t stream = 1;  // 1 stdout, 2 stderr
  std::string data;     // 1 to kCommandOutputPiece bytes
  bool operator==(const CommandOutput&) const = default;
};
struct CommandResult {
  uint64_t id = 0;
  uint32_t exit_code = 0;
  bool has_error = false;
  core::TaskError error;
  uint64_t run_us = 0;
  std::string engine;
  bool truncated = false;
  std::vector<FileRef> out;
  std::string out_error;
  bool operator==(const CommandResult&) const = default;
};
struct CommandCancel {
  uint64_t id = 0;
  bool operator==(const CommandCancel&) const = default;
};
struct BlobRequest {
  uint64_t id = 0;
  core::ModuleDigest hash{};
  uint64_t offset = 0;
  bool out = false;
  bool operator==(const BlobRequest&) const = default;
};
struct BlobData {
  uint64_t id = 0;
  core::ModuleDigest hash{};
  uint64_t total = 0;
  uint64_t offset = 0;
  std::string data;  // at most kModulePiece bytes; offset + size <= total
  std::string error;
  bool out = false;
  bool operator==(const BlobData&) const = default;
};
// A path a command's file may have: relative, '/'-separated, no empty, '.' or '..'
// component, no NUL, at most kMaxCommandPathBytes.
bool CommandPathOk(std::string_view path);

using LinkMessage =
    std::variant<LinkFrame, core::Assign, core::Cancel, core::Report, ModuleRequest, ModuleData,
                 CallRequest, CallResult, CallCancel, CommandRequest, CommandOutput, CommandResult,
                 CommandCancel, BlobRequest, BlobData>;

std::string EncodeLink(const LinkMessage& message);
// False on malformed input or input beyond the limits (ids of 0, empty or oversized names,
// start >= end, unknown reducers or value types, too many values, pieces past the total).
bool DecodeLink(std::string_view bytes, LinkMessage* message);

// Journal records: a job's spec and lists of result values.
std::string EncodeJobSpec(const core::JobSpec& spec);
bool DecodeJobSpec(std::string_view bytes, core::JobSpec* spec);
std::string EncodeNums(const std::vector<core::Num>& values);
bool DecodeNums(std::string_view bytes, std::vector<core::Num>* values);

}  // namespace velum::wire

#endif  // VELUM_WIRE_JOB_CODEC_H_
