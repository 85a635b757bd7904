// Conversion between the job structs and the generated protobuf classes, with the checks that
// keep a malformed or hostile frame from an authenticated peer away from the cores.
#include "wire/job_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string_view>
#include <type_traits>

#include "wire/velum.pb.h"

namespace velum::wire {

namespace {

constexpr uint32_t kMaxPages = 65536;  // 4 GiB: the most a wasm32 memory can have

bool DigestFrom(const std::string& bytes, core::ModuleDigest* out) {
  if (bytes.size() != out->size()) return false;
  std::memcpy(out->data(), bytes.data(), out->size());
  return true;
}
std::string DigestBytes(const core::ModuleDigest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

bool ReducerFrom(int r, core::ReducerKind* out) {
  switch (r) {
    case pb::REDUCER_SUM:
      *out = core::ReducerKind::kSum;
      return true;
    case pb::REDUCER_MIN:
      *out = core::ReducerKind::kMin;
      return true;
    case pb::REDUCER_MAX:
      *out = core::ReducerKind::kMax;
      return true;
    case pb::REDUCER_FIRST:
      *out = core::ReducerKind::kFirst;
      return true;
    case pb::REDUCER_MODULE:
      *out = core::ReducerKind::kModule;
      return true;
    default:
      return false;
  }
}
pb::Reducer ReducerTo(core::ReducerKind r) {
  switch (r) {
    case core::ReducerKind::kSum:
      return pb::REDUCER_SUM;
    case core::ReducerKind::kMin:
      return pb::REDUCER_MIN;
    case core::ReducerKind::kMax:
      return pb::REDUCER_MAX;
    case core::ReducerKind::kFirst:
      return pb::REDUCER_FIRST;
    case core::ReducerKind::kModule:
      return pb::REDUCER_MODULE;
  }
  return pb::REDUCER_SUM;
}

void NumTo(const core::Num& n, pb::Num* p) {
  switch (n.kind) {
    case core::NumKind::kInt:
      p->set_int_(n.i);
      break;
    case core::NumKind::kF32: {
      float f = static_cast<float>(n.f);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      p->set_f32_bits(bits);
      break;
    }
    case core::NumKind::kF64: {
      uint64_t bits;
      std::memcpy(&bits, &n.f, 8);
      p->set_f64_bits(bits);
      break;
    }
  }
}
bool NumFrom(const pb::Num& p, core::Num* n) {
  switch (p.v_case()) {
    case pb::Num::kInt:
      *n = core::Num::Int(p.int_());
      return true;
    case pb::Num::kF32Bits: {
      uint32_t bits = p.f32_bits();
      float f;
      std::memcpy(&f, &bits, 4);
      *n = core::Num::F32(f);
      return true;
    }
    case pb::Num::kF64Bits: {
      uint64_t bits = p.f64_bits();
      double d;
      std::memcpy(&d, &bits, 8);
      *n = core::Num::F64(d);
      return true;
    }
    case pb::Num::V_NOT_SET:
      return false;
  }
  return false;
}

template <typename Repeated>
bool NumsFrom(const Repeated& ps, std::vector<core::Num>* out) {
  if (static_cast<size_t>(ps.size()) > core::kMaxResultValues) return false;
  out->clear();
  for (const pb::Num& p : ps) {
    out->emplace_back();
    if (!NumFrom(p, &out->back())) return false;
  }
  return true;
}

// The length of the valid UTF-8 sequence at s[i] (no overlong forms, surrogates or code
// points past U+10FFFF); 0 if there is none.
size_t Utf8Length(std::string_view s, size_t i) {
  const auto byte = [&s](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = byte(i);
  if (c < 0x80) return 1;
  size_t n;
  uint8_t lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c == 0xe0) lo = 0xa0;  // overlong
    if (c == 0xed) hi = 0x9f;  // surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c == 0xf0) lo = 0x90;  // overlong
    if (c == 0xf4) hi = 0x8f;  // past U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < n || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < n; k++) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  }
  return n;
}

// Text for a string field of a frame: protobuf refuses to parse a string field that is not
// valid UTF-8, so a byte outside a valid sequence becomes '?', and a cut to `limit` bytes
// falls between characters. Valid text within the limit is unchanged.
std::string WireText(std::string_view s, size_t limit) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8Length(s, i);
    std::string_view piece = n ? s.substr(i, n) : std::string_view("?");
    if (out.size() + piece.size() > limit) break;
    out.append(piece);
    i += n ? n : 1;
  }
  return out;
}

bool ErrorFrom(const pb::TaskError& p, core::TaskError* e) {
  if (p.message().size() > core::kMaxErrorMessage) return false;
  e->kind = p.kind();
  e->message = p.message();
  e->retryable = p.retryable();
  return true;
}
void ErrorTo(const core::TaskError& e, pb::TaskError* p) {
  p->set_kind(e.kind);
  p->set_message(WireText(e.message, core::kMaxErrorMessage));
  p->set_retryable(e.retryable);
}

// A slice's output: a non-empty range that ends by the report's running_to, each stream
// within the cap a worker captures to.
bool OutputFrom(const pb::SliceOutput& p, int64_t running_to, core::SliceOutput* o) {
  if (p.lo() >= p.hi() || p.hi() > running_to) return false;
  if (p.stdout_data().size() > core::kMaxSliceOutputBytes ||
      p.stderr_data().size() > core::kMaxSliceOutputBytes)
    return false;
  o->lo = p.lo();
  o->hi = p.hi();
  o->streams[static_cast<size_t>(core::OutputStream::kStdout)] = p.stdout_data();
  o->streams[static_cast<size_t>(core::OutputStream::kStderr)] = p.stderr_data();
  o->truncated = p.truncated();
  return true;
}
void OutputTo(const core::SliceOutput& o, pb::SliceOutput* p) {
  p->set_lo(o.lo);
  p->set_hi(o.hi);
  // Cut to the cap, as the decoder demands (a worker's capture is never longer).
  p->set_stdout_data(o.text(core::OutputStream::kStdout).substr(0, core::kMaxSliceOutputBytes));
  p->set_stderr_data(o.text(core::OutputStream::kStderr).substr(0, core::kMaxSliceOutputBytes));
  p->set_truncated(o.truncated);
}

bool FuncOk(const std::string& f) { return !f.empty() && f.size() <= core::kMaxFuncName; }
// A module reducer names its export; the built-in ones name none.
bool ReduceFuncOk(core::ReducerKind r, const std::string& f) {
  return r == core::ReducerKind::kModule ? FuncOk(f) : f.empty();
}

template <typename Repeated>
bool ValuesFrom(const Repeated& ps, std::vector<WireValue>* out) {
  if (static_cast<size_t>(ps.size()) > kMaxCallValues) return false;
  out->clear();
  for (const pb::Value& v : ps) {
    if (v.type() > 3) return false;
    if ((v.type() == 0 || v.type() == 2) && v.bits() > 0xffffffffu) return false;
    out->push_back({v.type(), v.bits()});
  }
  return true;
}
template <typename Repeated>
void ValuesTo(const std::vector<WireValue>& vs, Repeated* ps) {
  for (const WireValue& v : vs) {
    pb::Value* p = ps->Add();
    p->set_type(v.type);
    p->set_bits(v.bits);
  }
}

void FileRefTo(const FileRef& f, pb::FileRef* p) {
  p->set_dir(f.dir);
  p->set_path(f.path);
  p->set_hash(DigestBytes(f.hash));
  p->set_size(f.size);
}
// A file reference within the limits; `dirs`: how many directories an input may name.
bool FileRefFrom(const pb::FileRef& p, uint32_t dirs, FileRef* f) {
  if (p.dir() >= std::max<uint32_t>(dirs, 1) || !CommandPathOk(p.path())) return false;
  if (!DigestFrom(p.hash(), &f->hash)) return false;
  f->dir = p.dir();
  f->path = p.path();
  f->size = p.size();
  return true;
}
template <typename Repeated>
bool FileRefsFrom(const Repeated& ps, uint32_t dirs, uint64_t max_bytes,
                  std::vector<FileRef>* out) {
  if (static_cast<size_t>(ps.size()) > kMaxCommandFiles) return false;
  uint64_t total = 0;
  out->clear();
  std::set<std::pair<uint32_t, std::string_view>> seen;  // one file per path and folder
  for (const pb::FileRef& p : ps) {
    FileRef f;
    if (!FileRefFrom(p, dirs, &f) || f.size > max_bytes - total) return false;
    if (!seen.emplace(p.dir(), p.path()).second) return false;
    total += f.size;
    out->push_back(std::move(f));
  }
  return true;
}
template <typename Repeated>
bool WordsFrom(const Repeated& ps, std::vector<std::string>* out, size_t* count, size_t* bytes) {
  for (const std::string& w : ps) {
    if (++*count > kMaxCommandArgs || w.size() > kMaxCommandArgBytes - *bytes) return false;
    if (w.find('\0') != std::string::npos) return false;
    *bytes += w.size();
    out->push_back(w);
  }
  return true;
}

}  // namespace

bool CommandPathOk(std::string_view path) {
  if (path.empty() || path.size() > kMaxCommandPathBytes || path.find('\0') != path.npos)
    return false;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == path.npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string EncodeLink(const LinkMessage& message) {
  pb::LinkFrame p;
  std::visit(
      [&p](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, LinkFrame>) {
          if (m.kind == LinkFrame::Kind::kPing) {
            p.mutable_ping()->set_seq(m.seq);
            p.mutable_ping()->set_sent_us(m.sent_us);
          } else {
            p.mutable_pong()->set_seq(m.seq);
            p.mutable_pong()->set_sent_us(m.sent_us);
          }
        } else if constexpr (std::is_same_v<M, core::Assign>) {
          pb::TaskAssign* a = p.mutable_assign();
          a->set_job(m.job);
          a->set_attempt(m.attempt);
          a->set_module(DigestBytes(m.module));
          a->set_module_size(m.module_size);
          a->set_func(m.func);
          a->set_start(m.start);
          a->set_end(m.end);
          a->set_reducer(ReducerTo(m.reducer));
          a->set_wide(m.wide);
          a->set_timeout_ms(m.timeout_ms);
          a->set_max_memory_pages(m.max_memory_pages);
          a->set_slice_ms(m.slice_ms);
          a->set_label(WireText(m.label, core::kMaxLabel));
          a->set_reduce_func(m.reduce_func);
          for (const core::Num& n : m.base.values) NumTo(n, a->mutable_base()->add_values());
        } else if constexpr (std::is_same_v<M, core::Cancel>) {
          p.mutable_cancel()->set_job(m.job);
          p.mutable_cancel()->set_attempt(m.attempt);
        } else if constexpr (std::is_same_v<M, core::Report>) {
          pb::TaskReport* r = p.mutable_report();
          r->set_job(m.job);
          r->set_attempt(m.attempt);
          r->set_upto(m.upto);
          r->set_running_to(m.running_to);
          for (const core::Num& n : m.partial.values) NumTo(n, r->mutable_partial()->add_values());
          r->set_busy_us(m.busy_us);
          if (m.has_error) ErrorTo(m.error, r->mutable_error());
          if (m.output) OutputTo(*m.output, r->mutable_output());
        } else if constexpr (std::is_same_v<M, ModuleRequest>) {
          p.mutable_module_request()->set_hash(DigestBytes(m.hash));
        } else if constexpr (std::is_same_v<M, ModuleData>) {
          pb::ModuleData* d = p.mutable_module_data();
          d->set_hash(DigestBytes(m.hash));
          d->set_total(m.total);
          d->set_offset(m.offset);
          d->set_data(m.data);
          d->set_error(WireText(m.error, core::kMaxErrorMessage));
        } else if constexpr (std::is_same_v<M, CallRequest>) {
          pb::CallRequest* c = p.mutable_call();
          c->set_id(m.id);
          c->set_module(DigestBytes(m.module));
          c->set_module_size(m.module_size);
          c->set_func(m.func);
          ValuesTo(m.args, c->mutable_args());
          c->set_timeout_ms(m.timeout_ms);
          c->set_max_memory_pages(m.max_memory_pages);
        } else if constexpr (std::is_same_v<M, CallResult>) {
          pb::CallResult* c = p.mutable_call_result();
          c->set_id(m.id);
          ValuesTo(m.values, c->mutable_values());
          if (m.has_error) ErrorTo(m.error, c->mutable_error());
          c->set_run_us(m.run_us);
          c->set_engine(WireText(m.engine, 16));
        } else if constexpr (std::is_same_v<M, CallCancel>) {
          p.mutable_call_cancel()->set_id(m.id);
        } else if constexpr (std::is_same_v<M, CommandRequest>) {
          pb::CommandRequest* c = p.mutable_command();
          c->set_id(m.id);
          c->set_module(DigestBytes(m.module));
          c->set_module_size(m.module_size);
          for (const auto& a : m.args) c->add_args(a);
          for (const auto& e : m.env) c->add_env(e);
          for (const auto& d : m.dirs) c->add_dirs(d);
          for (const auto& f : m.inputs) FileRefTo(f, c->add_inputs());
          if (m.stdin_file) {
            FileRefTo(*m.stdin_file, c->mutable_stdin());
          }
          c->set_out(m.out);
          c->set_timeout_ms(m.timeout_ms);
          c->set_max_memory_pages(m.max_memory_pages);
        } else if constexpr (std::is_same_v<M, CommandOutput>) {
          pb::CommandOutput* c = p.mutable_command_output();
          c->set_id(m.id);
          c->set_stream(m.stream);
          c->set_data(m.data);
        } else if constexpr (std::is_same_v<M, CommandResult>) {
          pb::CommandResult* c = p.mutable_command_result();
          c->set_id(m.id);
          c->set_exit_code(m.exit_code);
          if (m.has_error) ErrorTo(m.error, c->mutable_error());
          c->set_run_us(m.run_us);
          c->set_engine(WireText(m.engine, 16));
          c->set_truncated(m.truncated);
          for (const auto& f : m.out) FileRefTo(f, c->add_out());
          c->set_out_error(WireText(m.out_error, core::kMaxErrorMessage));
        } else if constexpr (std::is_same_v<M, CommandCancel>) {
          p.mutable_command_cancel()->set_id(m.id);
        } else if constexpr (std::is_same_v<M, BlobRequest>) {
          pb::BlobRequest* b = p.mutable_blob_request();
          b->set_id(m.id);
          b->set_hash(DigestBytes(m.hash));
          b->set_offset(m.offset);
          b->set_out(m.out);
        } else {
          static_assert(std::is_same_v<M, BlobData>);
          pb::BlobData* d = p.mutable_blob_data();
          d->set_id(m.id);
          d->set_hash(DigestBytes(m.hash));
          d->set_total(m.total);
          d->set_offset(m.offset);
          d->set_data(m.data);
          d->set_error(WireText(m.error, core::kMaxErrorMessage));
          d->set_out(m.out);
        }
      },
      message);
  return p.SerializeAsString();
}

bool DecodeLink(std::string_view bytes, LinkMessage* message) {
  if (bytes.size() > kMaxLinkMessageBytes) return false;
  pb::LinkFrame p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  switch (p.body_case()) {
    case pb::LinkFrame::kPing:
      *message = LinkFrame{LinkFrame::Kind::kPing, p.ping().seq(), p.ping().sent_us()};
      return true;
    case pb::LinkFrame::kPong:
      *message = LinkFrame{LinkFrame::Kind::kPong, p.pong().seq(), p.pong().sent_us()};
      return true;
    case pb::LinkFrame::kAssign: {
      const pb::TaskAssign& a = p.assign();
      core::Assign m;
      if (a.job() == 0 || a.attempt() == 0 || !DigestFrom(a.module(), &m.module)) return false;
      if (!FuncOk(a.func()) || a.start() >= a.end() || !ReducerFrom(a.reducer(), &m.reducer))
        return false;
      if (a.max_memory_pages() > kMaxPages || a.slice_ms() == 0) return false;
      if (a.label().size() > core::kMaxLabel) return false;
      if (!ReduceFuncOk(m.reducer, a.reduce_func())) return false;
      if (!NumsFrom(a.base().values(), &m.base.values)) return false;
      if (m.reducer != core::ReducerKind::kModule && !m.base.empty()) return false;
      m.reduce_func = a.reduce_func();
      m.job = a.job();
      m.attempt = a.attempt();
      m.module_size = a.module_size();
      m.func = a.func();
      m.start = a.start();
      m.end = a.end();
      m.wide = a.wide();
      m.timeout_ms = a.timeout_ms();
      m.max_memory_pages = a.max_memory_pages();
      m.slice_ms = a.slice_ms();
      m.label = a.label();
      *message = std::move(m);
      return true;
    }
    case pb::LinkFrame::kCancel:
      if (p.cancel().job() == 0) return false;
      *message = core::Cancel{p.cancel().job(), p.cancel().attempt()};
      return true;
    case pb::LinkFrame::kReport: {
      const pb::TaskReport& r = p.report();
      core::Report m;
      if (r.job() == 0 || r.attempt() == 0 || r.running_to() < r.upto()) return false;
      if (!NumsFrom(r.partial().values(), &m.partial.values)) return false;
      m.job = r.job();
      m.attempt = r.attempt();
      m.upto = r.upto();
      m.running_to = r.running_to();
      m.busy_us = r.busy_us();
      m.has_error = r.has_error();
      if (m.has_error && !ErrorFrom(r.error(), &m.error)) return false;
      if (r.has_output()) {
        m.output.emplace();
        if (!OutputFrom(r.output(), r.running_to(), &*m.output)) return false;
      }
      *message = std::move(m);
      return true;
    }
    case pb::LinkFrame::kModuleRequest: {
      ModuleRequest m;
      if (!DigestFrom(p.module_request().hash(), &m.hash)) return false;
      *message = m;
      return true;
    }
    case pb::LinkFrame::kModuleData: {
      const pb::ModuleData& d = p.module_data();
      ModuleData m;
      if (!DigestFrom(d.hash(), &m.hash) || d.data().size() > kModulePiece) return false;
      if (d.offset() > d.total() || d.data().size() > d.total() - d.offset()) return false;
      if (d.error().size() > core::kMaxErrorMessage || (!d.error().empty() && !d.data().empty()))
        return false;
      m.total = d.total();
      m.offset = d.offset();
      m.data = d.data();
      m.error = d.error();
      *message = std::move(m);
      return true;
    }
    case pb::LinkFrame::kCall: {
      const pb::CallRequest& c = p.call();
      CallRequest m;
      if (c.id() == 0 || !DigestFrom(c.module(), &m.module) || !FuncOk(c.func())) return false;
      if (!ValuesFrom(c.args(), &m.args) || c.max_memory_pages() > kMaxPages) return false;
      m.id = c.id();
      m.module_size = c.module_size();
      m.func = c.func();
      m.timeout_ms = c.timeout_ms();
      m.max_memory_pages = c.max_memory_pages();
      *message = std::move(m);
      return true;
    }
    case pb::LinkFrame::kCallResult: {
      const pb::CallResult& c = p.call_result();
      CallResult m;
      if (c.id() == 0 || !ValuesFrom(c.values(), &m.values) || c.engine().size() > 16) return false;
      m.id = c.id();
      m.has_error = c.has_error();
      if (m.has_error && !ErrorFrom(c.error(), &m.error)) return false;
      m.run_us = c.run_us();
      m.engine = c.engine();
      *message = std::move(m);
      return true;
    }
    case pb::LinkFrame::kCallCancel:
      if (p.call_cancel().id() == 0) return false;
      *message = CallCancel{p.call_cancel().id()};
      return true;
    case pb::LinkFrame::kCommand: {
      const pb::CommandRequest& c = p.command();
      CommandRequest m;
      if (c.id() == 0 || !DigestFrom(c.module(), &m.module)) return false;
      if (c.max_memory_pages() > kMaxPages || c.args().empty()) return false;
      size_t count = 0, bytes = 0;
      if (!WordsFrom(c.args(), &m.args, &count, &bytes) ||
          !WordsFrom(c.env(), &m.env, &count, &bytes))
        return false;
      if (static_cast<size_t>(c.dirs().size()) > kMaxCommandDirs) return false;
      for (const std::string& d : c.dirs()) {
        if (d.empty() || d.size() > kMaxCommandPathBytes || d.find('\0') != d.npos) return false;
        m.dirs.push_back(d);
      }
      const uint32_t dirs = static_cast<uint32_t>(m.dirs.size());
      if (!FileRefsFrom(c.inputs(), dirs, kMaxCommandInputBytes, &m.inputs)) return false;
      if (!m.inputs.empty() && m.dirs.empty()) return false;
      if (c.has_stdin()) {
        FileRef f;
        // stdin has no directory; its path only names it in errors.
        if (!FileRefFrom(c.stdin(), 0, &f)) return false;
        uint64_t total = f.size;
        for (const FileRef& in : m.inputs) total += in.size;
        if (f.size > kMaxCommandInputBytes || total > kMaxCommandInputBytes) return false;
        m.stdin_file = std::move(f);
      }
      m.id = c.id();
      m.module_size = c.module_size();
      m.out = c.out();
      m.timeout_ms = c.timeout_ms();
      m.max_memory_pages = c.max_memory_pages();
      *message = std::move(m);
      return true;
    }
    case pb::LinkFrame::kCommandOutput: {
      const pb::CommandOutput& c = p.command_output();
      if (c.id() == 0 || (c.stream() != 1 && c.stream() != 2)) return false;
      if (c.data().empty() || c.data().size() > kCommandOutputPiece) return false;
      *message = CommandOutput{c.id(), c.stream(), c.data()};
      return true;
    }
    case pb::LinkFrame::kCommandResult: {
      const pb::CommandResult& c = p.command_result();
      CommandResult m;
      if (c.id() == 0 || c.engine().size() > 16) return false;
      if (c.out_error().size() > core::kMaxErrorMessage) return false;
      if (!FileRefsFrom(c.out(), 0, kMaxCommandOutBytes, &m.out)) return false;
      m.id = c.id();
      m.exit_code = c.exit_code();
      m.has_error = c.has_error();
      if (m.has_error && !ErrorFrom(c.error(), &m.error)) return false;
      m.run_us = c.run_us();
      m.engine = c.engine();
      m.truncated = c.truncated();
      m.out_error = c.out_error();
      *message = std::move(m);
      return true;
    }
    case pb::LinkFrame::kCommandCancel:
      if (p.command_cancel().id() == 0) return false;
      *message = CommandCancel{p.command_cancel().id()};
      return true;
    case pb::LinkFrame::kBlobRequest: {
      const pb::BlobRequest& b = p.blob_request();
      BlobRequest m;
      if (b.id() == 0 || !DigestFrom(b.hash(), &m.hash)) return false;
      m.id = b.id();
      m.offset = b.offset();
      m.out = b.out();
      *message = m;
      return true;
    }
    case pb::LinkFrame::kBlobData: {
      const pb::BlobData& d = p.blob_data();
      BlobData m;
      if (d.id() == 0 || !DigestFrom(d.hash(), &m.hash) || d.data().size() > kModulePiece)
        return false;
      if (d.offset() > d.total() || d.data().size() > d.total() - d.offset()) return false;
      if (d.error().size() > core::kMaxErrorMessage || (!d.error().empty() && !d.data().empty()))
        return false;
      m.id = d.id();
      m.total = d.total();
      m.offset = d.offset();
      m.data = d.data();
      m.error = d.error();
      m.out = d.out();
      *message = std::move(m);
      return true;
    }
    case pb::LinkFrame::BODY_NOT_SET:
      return false;
  }
  return false;
}

std::string EncodeJobSpec(const core::JobSpec& s) {
  pb::JobSpecRecord p;
  p.set_module(DigestBytes(s.module));
  p.set_module_size(s.module_size);
  p.set_func(s.func);
  p.set_start(s.start);
  p.set_end(s.end);
  p.set_reducer(ReducerTo(s.reducer));
  p.set_wide(s.wide);
  for (core::NumKind k : s.result_kinds) p.add_result_kinds(static_cast<uint32_t>(k));
  p.set_chunk_items(s.chunk_items);
  p.set_exclude_self(s.exclude_self);
  p.set_timeout_ms(s.timeout_ms);
  p.set_max_memory_pages(s.max_memory_pages);
  p.set_label(WireText(s.label, 4096));
  p.set_reduce_func(s.reduce_func);
  return p.SerializeAsString();
}

bool DecodeJobSpec(std::string_view bytes, core::JobSpec* s) {
  if (bytes.size() > kMaxLinkMessageBytes) return false;
  pb::JobSpecRecord p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  if (!DigestFrom(p.module(), &s->module) || !FuncOk(p.func()) || p.start() >= p.end())
    return false;
  if (p.max_memory_pages() > kMaxPages) return false;
  if (!ReducerFrom(p.reducer(), &s->reducer) || p.result_kinds_size() == 0 ||
      static_cast<size_t>(p.result_kinds_size()) > core::kMaxResultValues ||
      p.label().size() > 4096 || !ReduceFuncOk(s->reducer, p.reduce_func()))
    return false;
  s->result_kinds.clear();
  for (uint32_t k : p.result_kinds()) {
    if (k > static_cast<uint32_t>(core::NumKind::kF64)) return false;
    s->result_kinds.push_back(static_cast<core::NumKind>(k));
  }
  s->module_size = p.module_size();
  s->func = p.func();
  s->start = p.start();
  s->end = p.end();
  s->wide = p.wide();
  s->chunk_items = p.chunk_items();
  s->exclude_self = p.exclude_self();
  s->timeout_ms = p.timeout_ms();
  s->max_memory_pages = p.max_memory_pages();
  s->label = p.label();
  s->reduce_func = p.reduce_func();
  return true;
}

std::string EncodeNums(const std::vector<core::Num>& values) {
  pb::NumList p;
  for (const core::Num& n : values) NumTo(n, p.add_values());
  return p.SerializeAsString();
}

bool DecodeNums(std::string_view bytes, std::vector<core::Num>* values) {
  if (bytes.size() > 4096) return false;
  pb::NumList p;
  if (!p.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  return NumsFrom(p.values(), values);
}

}  // namespace velum::wire
