// Map jobs through the C API: velum_map checks the caller's items and options, runs the job
// on the node (Node::Map) on the calling thread, and hands back a velum_map_summary.
#include <atomic>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "api/api_internal.h"
#include "core/map_plan.h"
#include "node/map_inputs.h"
#include "node/map_service.h"
#include "shell/option_limits.h"

// A cancel token: the flags of the maps it was given while they run.
struct velum_cancel {
  std::mutex mu;
  bool triggered = false;
  std::multiset<std::atomic<bool>*> flags;
};

// What a map did, owned by the handle.
struct velum_map_summary {
  velum::MapSummary s;
  std::vector<std::pair<uint32_t, uint64_t>> nodes;  // s.workers, indexable
};

// Items made from paths: the owned items, and their C views.
struct velum_map_inputs {
  std::vector<velum::MapItem> owned;
  std::vector<std::string> paths;  // owned[i].file as text, for the view
  std::vector<velum_map_item> items;
};

namespace velum::api {

namespace {

namespace fs = std::filesystem;

// The node's per-item stderr tail is what velum.h promises.
static_assert(MapService::kStderrTail == 512, "velum.h says at most 512 bytes of stderr");
static_assert(core::MapPlan::kMaxItems == 1000000, "velum.h says at most 1000000 items");
static_assert(kMaxMapInlineBytes == 64ull << 20, "velum.h says 64 MiB of item bytes");

// A map's flag set while the token is triggered: attached for the map's run.
class TokenScope {
 public:
  TokenScope(velum_cancel* token, std::atomic<bool>* flag) : token_(token), flag_(flag) {
    if (!token_) return;
    std::lock_guard<std::mutex> lock(token_->mu);
    token_->flags.insert(flag_);
    if (token_->triggered) flag_->store(true);
  }
  TokenScope(const TokenScope&) = delete;
  TokenScope& operator=(const TokenScope&) = delete;
  ~TokenScope() {
    if (!token_) return;
    std::lock_guard<std::mutex> lock(token_->mu);
    token_->flags.erase(token_->flags.find(flag_));
  }

 private:
  velum_cancel* token_;
  std::atomic<bool>* flag_;
};

// The options as a MapRequest without items; VELUM_OK or a failure.
int CopyOptions(const char* path, const velum_map_options& o, MapRequest* q) {
  q->args.push_back(o.argv0 ? o.argv0 : fs::path(path).filename().string());
  if (q->args[0].empty()) return Fail(VELUM_ERR_INVALID_ARGUMENT, "argv0 is empty");
  if (int code = CopyStrings("args", o.args, o.nargs, &q->args); code != VELUM_OK) return code;
  if (int code = CopyStrings("env", o.env, o.nenv, &q->env); code != VELUM_OK) return code;
  if (int code = CheckEnv(q->env); code != VELUM_OK) return code;
  if (o.retries > shell::kMapRetries.max)
    return Fail(VELUM_ERR_INVALID_ARGUMENT,
                "retries is " + std::to_string(o.retries) + ": at most " +
                    std::to_string(static_cast<unsigned>(shell::kMapRetries.max)));
  if (o.timeout_ms == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "timeout_ms is 0");
  if (o.timeout_ms > shell::kCallTimeout.max * 1000)
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "timeout_ms is over a week");
  if (o.max_memory_mib == 0 || o.max_memory_mib > shell::kCallMemory.max)
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "max_memory_mib must be in [1, 65536]");
  if (o.out_dir && o.on_output)
    return Fail(VELUM_ERR_INVALID_ARGUMENT,
                "out_dir and on_output: outputs go to a folder or to the callback, not both");
  if (o.out_dir) {
    if (!*o.out_dir) return Fail(VELUM_ERR_INVALID_ARGUMENT, "out_dir is empty");
    std::error_code ec;
    if (fs::exists(o.out_dir, ec) && !fs::is_directory(o.out_dir, ec))
      return Fail(VELUM_ERR_IO, std::string("out_dir: ") + o.out_dir + " is not a directory");
    q->out_dir = o.out_dir;
  }
  q->retries = o.retries;
  q->timeout_ms = o.timeout_ms;
  q->max_memory_mib = o.max_memory_mib;
  q->exclude_self = o.exclude_self;
  return VELUM_OK;
}

// The caller's items, checked and copied (the count first: a hostile count is refused before
// any item is read); VELUM_OK or a failure naming the item.
int CopyItems(const velum_map_item* items, size_t n, std::vector<MapItem>* out) {
  if (n == 0) return Fail(VELUM_ERR_INVALID_ARGUMENT, "no items: a map runs at least one");
  if (!items) return Fail(VELUM_ERR_INVALID_ARGUMENT, "items is NULL");
  if (n > core::MapPlan::kMaxItems)
    return Fail(VELUM_ERR_LIMIT, std::to_string(n) + " items: a map takes at most " +
                                     std::to_string(core::MapPlan::kMaxItems));
  uint64_t inline_bytes = 0;
  out->reserve(n);
  for (size_t i = 0; i < n; i++) {
    const velum_map_item& it = items[i];
    const std::string name = "items[" + std::to_string(i) + "]";
    if (!it.name || !*it.name) return Fail(VELUM_ERR_INVALID_ARGUMENT, name + ".name is empty");
    if (it.out_name && !*it.out_name)
      return Fail(VELUM_ERR_INVALID_ARGUMENT, name + ".out_name is empty (NULL: its name)");
    MapItem m;
    m.name = it.name;
    if (it.out_name) m.out_name = it.out_name;
    if (it.path) {
      if (it.data || it.size)
        return Fail(VELUM_ERR_INVALID_ARGUMENT,
                    name + ": path and data both set (its bytes are a file's or given)");
      std::error_code ec;
      if (!*it.path || !fs::is_regular_file(it.path, ec))
        return Fail(VELUM_ERR_IO, name + ".path: '" + it.path + "' is not a regular file");
      m.file = fs::absolute(it.path, ec);
    } else {
      if (it.size > VELUM_MAX_STDIN_BYTES)
        return Fail(VELUM_ERR_LIMIT, name + " has " + std::to_string(it.size) + " bytes: at most " +
                                         std::to_string(VELUM_MAX_STDIN_BYTES) +
                                         " (give it as a file)");
      if (it.size && !it.data)
        return Fail(VELUM_ERR_INVALID_ARGUMENT, name + ".data is NULL with a size");
      inline_bytes += it.size;
      if (inline_bytes > kMaxMapInlineBytes)
        return Fail(VELUM_ERR_LIMIT, "items given as bytes hold over " +
                                         std::to_string(kMaxMapInlineBytes >> 20) +
                                         " MiB together: give them as files");
      if (it.size) m.bytes.assign(static_cast<const char*>(it.data), it.size);
    }
    out->push_back(std::move(m));
  }
  return VELUM_OK;
}

// The outcome of a job that ran: VELUM_OK when it ended, else its failure recorded.
int Outcome(const MapSummary& s) {
  const std::string job = "map job " + std::to_string(s.job);
  switch (s.state) {
    case core::JobState::kDone:
      return VELUM_OK;
    case core::JobState::kCancelled:
      return Fail(VELUM_ERR_CANCELLED, job +
                                           " cancelled: " + std::to_string(s.ok + s.failed.size()) +
                                           " of " + std::to_string(s.items) + " items had ended");
    default:
      return Fail(VELUM_ERR_JOB_FAILED, job + " failed: " + s.error);
  }
}

}  // namespace

}  // namespace velum::api

using velum::api::Fail;
using velum::api::FailNull;

extern "C" {

velum_cancel* velum_cancel_create(void) { return new (std::nothrow) velum_cancel; }

void velum_cancel_trigger(velum_cancel* cancel) {
  if (!cancel) return;
  std::lock_guard<std::mutex> lock(cancel->mu);
  cancel->triggered = true;
  for (std::atomic<bool>* flag : cancel->flags) flag->store(true);
}

void velum_cancel_release(velum_cancel* cancel) { delete cancel; }

void velum_map_options_default(velum_map_options* options) {
  if (!options) return;
  std::memset(options, 0, sizeof *options);
  velum::MapRequest d;  // the node's own defaults, not a second copy of them
  options->retries = d.retries;
  options->timeout_ms = d.timeout_ms;
  options->max_memory_mib = d.max_memory_mib;
}

int velum_map(const char* path, const velum_map_item* items, size_t nitems,
              const velum_map_options* options, velum_map_summary** summary) {
  if (summary) *summary = nullptr;
  velum_map_options defaults;
  velum_map_options_default(&defaults);
  const velum_map_options& o = options ? *options : defaults;
  velum::api::Lease lease;
  if (!lease.node()) return Fail(VELUM_ERR_NOT_INITIALIZED, velum::api::kNotInitialized);
  if (!path) return Fail(VELUM_ERR_INVALID_ARGUMENT, "path is NULL");
  velum::MapRequest q;
  if (int code = velum::api::CopyOptions(path, o, &q); code != VELUM_OK) return code;
  if (int code = velum::api::CopyItems(items, nitems, &q.items); code != VELUM_OK) return code;
  auto module = lease.node()->LoadModule(path);
  if (!module.ok()) return Fail(module.error());
  if (o.on_output)
    q.on_output = [fn = o.on_output, context = o.output_context](uint64_t item,
                                                                 const std::string& data) {
      fn(context, item, data.data(), data.size());
    };
  std::atomic<bool> cancel{false};
  velum::api::CancelScope scope(&cancel);  // velum_shutdown stops the job
  velum::api::TokenScope token(o.cancel, &cancel);
  auto ran = lease.node()->Map(*module, std::move(q), &cancel);
  if (!ran.ok()) return Fail(ran.error());
  int code = velum::api::Outcome(*ran);
  if (summary) {
    auto* s = new (std::nothrow) velum_map_summary;
    if (!s) return Fail(VELUM_ERR_INTERNAL, "out of memory");
    s->s = std::move(*ran);
    s->nodes.assign(s->s.workers.begin(), s->s.workers.end());
    *summary = s;
  }
  return code;
}

uint64_t velum_map_summary_job(const velum_map_summary* summary) {
  return summary ? summary->s.job : 0;
}

uint64_t velum_map_summary_items(const velum_map_summary* summary) {
  return summary ? summary->s.items : 0;
}

uint64_t velum_map_summary_ok(const velum_map_summary* summary) {
  return summary ? summary->s.ok : 0;
}

double velum_map_summary_elapsed_ms(const velum_map_summary* summary) {
  return summary ? summary->s.elapsed_ms : 0;
}

uint64_t velum_map_summary_reruns(const velum_map_summary* summary) {
  return summary ? summary->s.reruns : 0;
}

const char* velum_map_summary_out_dir(const velum_map_summary* summary) {
  return summary ? summary->s.out.c_str() : "";
}

size_t velum_map_summary_failure_count(const velum_map_summary* summary) {
  return summary ? summary->s.failed.size() : 0;
}

int velum_map_summary_failure(const velum_map_summary* summary, size_t index,
                              velum_map_failure* out) {
  if (!summary || !out) return Fail(VELUM_ERR_INVALID_ARGUMENT, "summary or out is NULL");
  if (index >= summary->s.failed.size())
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "no failure " + std::to_string(index) + " (there are " +
                                                std::to_string(summary->s.failed.size()) + ")");
  const velum::MapFailure& f = summary->s.failed[index];
  out->item = f.item;
  out->name = f.input.c_str();
  out->node = f.node;
  out->exit_code = f.exit_code;
  out->error = f.error.c_str();
  out->stderr_tail = f.stderr_tail.c_str();
  out->stderr_size = f.stderr_tail.size();
  return VELUM_OK;
}

size_t velum_map_summary_node_count(const velum_map_summary* summary) {
  return summary ? summary->nodes.size() : 0;
}

int velum_map_summary_node(const velum_map_summary* summary, size_t index, uint32_t* node,
                           uint64_t* items) {
  if (!summary) return Fail(VELUM_ERR_INVALID_ARGUMENT, "summary is NULL");
  if (index >= summary->nodes.size())
    return Fail(VELUM_ERR_INVALID_ARGUMENT, "no node " + std::to_string(index) + " (there are " +
                                                std::to_string(summary->nodes.size()) + ")");
  if (node) *node = summary->nodes[index].first;
  if (items) *items = summary->nodes[index].second;
  return VELUM_OK;
}

void velum_map_summary_release(velum_map_summary* summary) { delete summary; }

velum_map_inputs* velum_map_inputs_collect(const char* const* paths, size_t npaths, bool recursive,
                                           bool lines) {
  if (npaths == 0)
    return FailNull<velum_map_inputs>(VELUM_ERR_INVALID_ARGUMENT, "no paths to collect");
  std::vector<std::string> inputs;
  if (velum::api::CopyStrings("paths", paths, npaths, &inputs) != VELUM_OK) return nullptr;
  for (size_t i = 0; i < inputs.size(); i++)
    if (inputs[i].empty())
      return FailNull<velum_map_inputs>(VELUM_ERR_INVALID_ARGUMENT,
                                        "paths[" + std::to_string(i) + "] is empty");
  auto* in = new (std::nothrow) velum_map_inputs;
  if (!in) return FailNull<velum_map_inputs>(VELUM_ERR_INTERNAL, "out of memory");
  if (velum::Status s = velum::CollectMapItems(inputs, lines, recursive, &in->owned); !s.ok()) {
    delete in;
    Fail(s.error());
    return nullptr;
  }
  in->paths.reserve(in->owned.size());
  in->items.reserve(in->owned.size());
  for (const velum::MapItem& m : in->owned) {
    in->paths.push_back(m.file ? m.file->string() : "");
    velum_map_item it;
    std::memset(&it, 0, sizeof it);
    it.name = m.name.c_str();
    it.out_name = m.out_name.empty() ? nullptr : m.out_name.c_str();
    if (m.file) {
      it.path = in->paths.back().c_str();
    } else {
      it.data = m.bytes.data();
      it.size = m.bytes.size();
    }
    in->items.push_back(it);
  }
  return in;
}

const velum_map_item* velum_map_inputs_items(const velum_map_inputs* inputs, size_t* count) {
  if (count) *count = inputs ? inputs->items.size() : 0;
  return inputs && !inputs->items.empty() ? inputs->items.data() : nullptr;
}

void velum_map_inputs_release(velum_map_inputs* inputs) { delete inputs; }

}  // extern "C"
