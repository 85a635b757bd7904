// Tests of wire/job_codec: every link frame and journal record survives a round trip bit for bit
// (NaN payloads, -0.0), and malformed, over-limit, truncated or random input is refused.
#include "wire/job_codec.h"

#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/random.h"
#include "tests/sim/scenario.h"
#include "wire/velum.pb.h"

namespace velum::wire {
namespace {

using core::Num;

float FloatOfBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
double DoubleOfBits(uint64_t bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}
uint32_t BitsOfFloat(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}
uint64_t BitsOfDouble(double d) {
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  return bits;
}

core::ModuleDigest Digest(uint8_t seed) {
  core::ModuleDigest d;
  for (size_t i = 0; i < d.size(); ++i) d[i] = static_cast<uint8_t>(seed * 31 + i * 7);
  return d;
}

// Values whose bits a careless codec would lose: quiet NaNs with payloads (an f32 one must
// survive the double it is held in), negative zeros, infinities, the integer extremes.
std::vector<Num> SpecialNums() {
  return {Num::Int(0),
          Num::Int(-1),
          Num::Int(std::numeric_limits<int64_t>::min()),
          Num::Int(std::numeric_limits<int64_t>::max()),
          Num::F32(FloatOfBits(0x7fc00123)),  // quiet NaN with a payload
          Num::F32(FloatOfBits(0xffc00001)),  // negative quiet NaN
          Num::F32(-0.0f),
          Num::F32(FloatOfBits(0x00000001)),  // the smallest subnormal
          Num::F32(std::numeric_limits<float>::infinity()),
          Num::F64(DoubleOfBits(0x7ff8000000000abcULL)),
          Num::F64(DoubleOfBits(0x7ff0000000000001ULL)),  // signalling NaN: memcpy keeps it
          Num::F64(DoubleOfBits(0xfff8000000000000ULL)),
          Num::F64(-0.0),
          Num::F64(-std::numeric_limits<double>::infinity()),
          Num::F64(5e-324),
          Num::F64(3.141592653589793)};
}

core::Assign SampleAssign() {
  core::Assign a;
  a.job = 7;
  a.attempt = (uint64_t{3} << 40) + 12;
  a.module = Digest(1);
  a.module_size = 123456;
  a.func = "count_primes";
  a.start = -5'000'000'000;
  a.end = 5'000'000'000;
  a.reducer = core::ReducerKind::kMax;
  a.wide = true;
  a.timeout_ms = 1234;
  a.max_memory_pages = 65536;
  a.slice_ms = 150;
  a.label = "primes.wasm";
  return a;
}

core::Report SampleReport() {
  core::Report r;
  r.job = 7;
  r.attempt = 99;
  r.upto = 4'294'967'296;
  r.running_to = 4'294'967'396;
  r.partial.values = SpecialNums();
  r.busy_us = 987654321;
  return r;
}

CallRequest SampleCall() {
  CallRequest c;
  c.id = 42;
  c.module = Digest(2);
  c.module_size = 77;
  c.func = "add";
  c.args = {{0, 0xffffffffu},            // i32 -1
            {1, 0x8000000000000000ULL},  // i64 min
            {2, 0x7fc00042u},            // f32 NaN with a payload
            {3, 0x8000000000000000ULL},  // f64 -0.0
            {3, 0x7ff0000000000001ULL},  // f64 signalling NaN
            {0, 0}};
  c.timeout_ms = 30000;
  c.max_memory_pages = 17;
  return c;
}

CommandRequest SampleCommand() {
  CommandRequest c;
  c.id = 5;
  c.module = Digest(6);
  c.module_size = 2000000;
  c.args = {"wc.wasm", "-v", "", "caf\xc3\xa9", "latin-1 caf\xe9"};  // argv is bytes, not text
  c.env = {"LANG=C", "EMPTY="};
  c.dirs = {"/data", "src"};
  c.inputs = {FileRef{0, "a.txt", Digest(7), 10}, FileRef{1, "deep/er/b.bin", Digest(8), 0},
              FileRef{1, "caf\xe9 \xff.txt", Digest(8), 0}};  // a name need not be UTF-8
  c.stdin_file = FileRef{0, "in.txt", Digest(7), 10};
  c.out = true;
  c.timeout_ms = 30000;
  c.max_memory_pages = 256;
  return c;
}

std::vector<LinkMessage> Samples() {
  std::vector<LinkMessage> out;
  out.push_back(LinkFrame{LinkFrame::Kind::kPing, 1, 1700000000000123});
  out.push_back(LinkFrame{LinkFrame::Kind::kPong, std::numeric_limits<uint64_t>::max(), 0});
  out.push_back(SampleAssign());
  core::Assign narrow = SampleAssign();
  narrow.wide = false;
  narrow.start = 0;
  narrow.end = 1;
  narrow.reducer = core::ReducerKind::kFirst;
  narrow.func = std::string(core::kMaxFuncName, 'f');  // the longest name allowed
  narrow.max_memory_pages = 0;
  out.push_back(narrow);
  core::Assign module = SampleAssign();  // a module reducer: its export and the chunk's base
  module.reducer = core::ReducerKind::kModule;
  module.reduce_func = std::string(core::kMaxFuncName, 'm');
  module.base.values = SpecialNums();
  out.push_back(module);
  core::Assign module_first = module;  // at the chunk's beginning: no base yet
  module_first.reduce_func = "matmul";
  module_first.base.values.clear();
  out.push_back(module_first);
  out.push_back(core::Cancel{7, 0});  // every attempt of job 7
  out.push_back(core::Cancel{7, 99});
  out.push_back(SampleReport());
  core::Report empty;  // a heartbeat before the first slice ends: nothing reduced yet
  empty.job = 1;
  empty.attempt = 1;
  empty.upto = -10;
  empty.running_to = -10;
  out.push_back(empty);
  core::Report failed = SampleReport();
  failed.partial.values.clear();
  failed.has_error = true;
  failed.error = {3, std::string(core::kMaxErrorMessage, 'e'), true};
  out.push_back(failed);
  core::Report printed = SampleReport();  // a WASI slice's output, binary bytes and all
  printed.output = core::SliceOutput{
      printed.upto - 10,
      printed.upto,
      {std::string("line\n\xff\0end", 11), std::string(core::kMaxSliceOutputBytes, 'e')},
      true};
  out.push_back(printed);
  core::Report failed_printing = failed;  // the output of the slice that failed
  failed_printing.output = core::SliceOutput{failed.upto, failed.running_to, {"", "why\n"}, false};
  out.push_back(failed_printing);
  core::Report failed_quietly = empty;  // an error without a message still is an error
  failed_quietly.has_error = true;
  out.push_back(failed_quietly);
  out.push_back(ModuleRequest{Digest(3)});
  out.push_back(ModuleData{Digest(4), 3000000, 1 << 20, std::string(1000, 'w'), ""});
  out.push_back(ModuleData{Digest(4), kModulePiece, 0, std::string(kModulePiece, 'x'), ""});
  out.push_back(ModuleData{Digest(4), 0, 0, "", ""});  // an empty module: one empty piece
  out.push_back(ModuleData{Digest(5), 0, 0, "", "no such module"});
  out.push_back(SampleCall());
  CallRequest no_args = SampleCall();
  no_args.args.clear();
  out.push_back(no_args);
  CallRequest full = SampleCall();
  full.args.assign(kMaxCallValues, WireValue{1, 0x0123456789abcdefULL});
  out.push_back(full);
  CallResult result;
  result.id = 42;
  result.values = {
      {0, 7}, {1, 0xfffffffffffffffeULL}, {2, 0x80000000u}, {3, 0x7ff8000000000001ULL}};
  result.run_us = 55;
  result.engine = "aot";
  out.push_back(result);
  CallResult trapped;
  trapped.id = 43;
  trapped.has_error = true;
  trapped.error = {2, "integer divide by zero", false};
  trapped.engine = std::string(16, 'i');
  out.push_back(trapped);
  out.push_back(CallCancel{std::numeric_limits<uint64_t>::max()});
  out.push_back(SampleCommand());
  CommandRequest bare;  // argv[0] only: no directories, no stdin, no /out
  bare.id = 1;
  bare.module = Digest(9);
  bare.args = {"prog.wasm"};
  out.push_back(bare);
  out.push_back(CommandOutput{5, 1, std::string("line\n\xff\0", 7)});
  out.push_back(CommandOutput{5, 2, std::string(kCommandOutputPiece, 'e')});
  CommandResult done;
  done.id = 5;
  done.exit_code = 3;
  done.run_us = 1234;
  done.engine = "aot";
  done.truncated = true;
  done.out = {FileRef{0, "copy.txt", Digest(10), 12},
              FileRef{0, "sub/big.bin", Digest(11), 1 << 20}};
  out.push_back(done);
  CommandResult trapped_command;
  trapped_command.id = 6;
  trapped_command.has_error = true;
  trapped_command.error = {2, "unreachable", false};
  trapped_command.out_error = std::string(core::kMaxErrorMessage, 'o');
  out.push_back(trapped_command);
  out.push_back(CommandCancel{std::numeric_limits<uint64_t>::max()});
  out.push_back(BlobRequest{7, Digest(12), 1 << 20, false});
  out.push_back(BlobRequest{7, Digest(12), 0, true});
  out.push_back(
      BlobData{7, Digest(12), 3 << 20, 1 << 20, std::string(kModulePiece, 'b'), "", false});
  out.push_back(BlobData{7, Digest(12), 0, 0, "", "", true});  // an empty file: one empty piece
  out.push_back(BlobData{7, Digest(12), 10, 0, "", "no such file", false});
  return out;
}

// Whatever DecodeLink accepts must be within the limits the cores rely on.
void ExpectWithinLimits(const LinkMessage& message) {
  std::visit(
      [](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, core::Assign>) {
          EXPECT_NE(m.job, 0u);
          EXPECT_NE(m.attempt, 0u);
          EXPECT_FALSE(m.func.empty());
          EXPECT_LE(m.func.size(), core::kMaxFuncName);
          EXPECT_LT(m.start, m.end);
          EXPECT_LE(static_cast<int>(m.reducer), static_cast<int>(core::ReducerKind::kModule));
          if (m.reducer == core::ReducerKind::kModule) {
            EXPECT_FALSE(m.reduce_func.empty());
            EXPECT_LE(m.reduce_func.size(), core::kMaxFuncName);
          } else {
            EXPECT_TRUE(m.reduce_func.empty() && m.base.empty());
          }
          EXPECT_LE(m.base.values.size(), core::kMaxResultValues);
          EXPECT_LE(m.max_memory_pages, 65536u);
          EXPECT_GT(m.slice_ms, 0u);
          EXPECT_LE(m.label.size(), core::kMaxLabel);
        } else if constexpr (std::is_same_v<M, core::Cancel>) {
          EXPECT_NE(m.job, 0u);
        } else if constexpr (std::is_same_v<M, core::Report>) {
          EXPECT_NE(m.job, 0u);
          EXPECT_NE(m.attempt, 0u);
          EXPECT_LE(m.upto, m.running_to);
          EXPECT_LE(m.partial.values.size(), core::kMaxResultValues);
          EXPECT_LE(m.error.message.size(), core::kMaxErrorMessage);
          if (m.output) {
            EXPECT_LT(m.output->lo, m.output->hi);
            EXPECT_LE(m.output->hi, m.running_to);
            for (const auto& text : m.output->streams)
              EXPECT_LE(text.size(), core::kMaxSliceOutputBytes);
          }
        } else if constexpr (std::is_same_v<M, ModuleData>) {
          EXPECT_LE(m.data.size(), kModulePiece);
          EXPECT_LE(m.offset, m.total);
          EXPECT_LE(m.data.size(), m.total - m.offset);
          EXPECT_TRUE(m.error.empty() || m.data.empty());
          EXPECT_LE(m.error.size(), core::kMaxErrorMessage);
        } else if constexpr (std::is_same_v<M, CallRequest> || std::is_same_v<M, CallResult>) {
          const std::vector<WireValue>* values;
          if constexpr (std::is_same_v<M, CallRequest>) {
            EXPECT_FALSE(m.func.empty());
            EXPECT_LE(m.func.size(), core::kMaxFuncName);
            EXPECT_LE(m.max_memory_pages, 65536u);
            values = &m.args;
          } else {
            EXPECT_LE(m.engine.size(), 16u);
            EXPECT_LE(m.error.message.size(), core::kMaxErrorMessage);
            values = &m.values;
          }
          EXPECT_NE(m.id, 0u);
          EXPECT_LE(values->size(), kMaxCallValues);
          for (const WireValue& v : *values) {
            EXPECT_LE(v.type, 3u);
            if (v.type == 0 || v.type == 2) {
              EXPECT_LE(v.bits, 0xffffffffu);
            }
          }
        } else if constexpr (std::is_same_v<M, CallCancel>) {
          EXPECT_NE(m.id, 0u);
        } else if constexpr (std::is_same_v<M, CommandRequest>) {
          EXPECT_NE(m.id, 0u);
          EXPECT_FALSE(m.args.empty());
          EXPECT_LE(m.args.size() + m.env.size(), kMaxCommandArgs);
          EXPECT_LE(m.dirs.size(), kMaxCommandDirs);
          EXPECT_LE(m.inputs.size(), kMaxCommandFiles);
          uint64_t total = m.stdin_file ? m.stdin_file->size : 0;
          for (const FileRef& f : m.inputs) {
            EXPECT_LT(f.dir, m.dirs.size());
            EXPECT_TRUE(CommandPathOk(f.path)) << f.path;
            total += f.size;
          }
          EXPECT_LE(total, kMaxCommandInputBytes);
          EXPECT_LE(m.max_memory_pages, 65536u);
        } else if constexpr (std::is_same_v<M, CommandOutput>) {
          EXPECT_TRUE(m.stream == 1 || m.stream == 2);
          EXPECT_FALSE(m.data.empty());
          EXPECT_LE(m.data.size(), kCommandOutputPiece);
        } else if constexpr (std::is_same_v<M, CommandResult>) {
          EXPECT_LE(m.engine.size(), 16u);
          EXPECT_LE(m.out.size(), kMaxCommandFiles);
          uint64_t total = 0;
          for (const FileRef& f : m.out) {
            EXPECT_TRUE(CommandPathOk(f.path)) << f.path;
            total += f.size;
          }
          EXPECT_LE(total, kMaxCommandOutBytes);
        } else if constexpr (std::is_same_v<M, BlobData>) {
          EXPECT_LE(m.data.size(), kModulePiece);
          EXPECT_LE(m.offset + m.data.size(), m.total);
          EXPECT_TRUE(m.error.empty() || m.data.empty());
        }
      },
      message);
}

TEST(JobCodec, RoundTripsEveryLinkMessage) {
  const std::vector<LinkMessage> samples = Samples();
  std::vector<bool> seen(std::variant_size_v<LinkMessage>, false);
  for (size_t i = 0; i < samples.size(); ++i) {
    SCOPED_TRACE("sample " + std::to_string(i) + ", alternative " +
                 std::to_string(samples[i].index()));
    seen[samples[i].index()] = true;
    const std::string bytes = EncodeLink(samples[i]);
    EXPECT_LE(bytes.size(), kMaxLinkMessageBytes);
    LinkMessage back;
    ASSERT_TRUE(DecodeLink(bytes, &back));
    ASSERT_EQ(back.index(), samples[i].index());
    EXPECT_TRUE(back == samples[i]);
    EXPECT_EQ(EncodeLink(back), bytes);
    ExpectWithinLimits(back);
  }
  for (size_t k = 0; k < seen.size(); ++k) EXPECT_TRUE(seen[k]) << "no sample of alternative " << k;
}

TEST(JobCodec, PartialsKeepEveryBit) {
  LinkMessage back;
  ASSERT_TRUE(DecodeLink(EncodeLink(SampleReport()), &back));
  const auto& got = std::get<core::Report>(back).partial.values;
  const std::vector<Num> want = SpecialNums();
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("value " + std::to_string(i));
    ASSERT_EQ(got[i].kind, want[i].kind);
    if (want[i].kind == core::NumKind::kInt) {
      EXPECT_EQ(got[i].i, want[i].i);
    } else if (want[i].kind == core::NumKind::kF32) {
      EXPECT_EQ(BitsOfFloat(static_cast<float>(got[i].f)),
                BitsOfFloat(static_cast<float>(want[i].f)));
    } else {
      EXPECT_EQ(BitsOfDouble(got[i].f), BitsOfDouble(want[i].f));
    }
  }
  // The NaNs really are NaNs with their payloads, and -0.0 kept its sign.
  EXPECT_EQ(BitsOfFloat(static_cast<float>(got[4].f)), 0x7fc00123u);
  EXPECT_TRUE(std::signbit(got[6].f) && got[6].f == 0);
  EXPECT_EQ(BitsOfDouble(got[10].f), 0x7ff0000000000001ULL);
  EXPECT_TRUE(std::signbit(got[12].f) && got[12].f == 0);
}

core::JobSpec SampleSpec() {
  core::JobSpec s;
  s.module = Digest(9);
  s.module_size = 4096;
  s.func = "harmonic";
  s.start = std::numeric_limits<int64_t>::min();
  s.end = std::numeric_limits<int64_t>::max();
  s.reducer = core::ReducerKind::kMin;
  s.wide = true;
  s.result_kinds = {core::NumKind::kInt, core::NumKind::kF32, core::NumKind::kF64};
  s.chunk_items = 1000;
  s.exclude_self = true;
  s.timeout_ms = 1;
  s.max_memory_pages = 65536;
  s.label = "range64.wasm";
  return s;
}

TEST(JobCodec, JobSpecsAndNumListsRoundTrip) {
  std::vector<core::JobSpec> specs = {SampleSpec()};
  core::JobSpec plain;
  plain.module = Digest(10);
  plain.func = "f";
  plain.start = 0;
  plain.end = 1;
  plain.result_kinds = {core::NumKind::kInt};
  specs.push_back(plain);
  core::JobSpec widest = SampleSpec();
  widest.result_kinds.assign(core::kMaxResultValues, core::NumKind::kF64);
  widest.label = std::string(4096, 'l');
  widest.func = std::string(core::kMaxFuncName, 'g');
  widest.reducer = core::ReducerKind::kFirst;
  specs.push_back(widest);
  core::JobSpec module = SampleSpec();
  module.reducer = core::ReducerKind::kModule;
  module.reduce_func = "matmul";
  specs.push_back(module);
  for (const core::JobSpec& s : specs) {
    core::JobSpec back;
    ASSERT_TRUE(DecodeJobSpec(EncodeJobSpec(s), &back));
    EXPECT_EQ(back, s);
  }
  // A longer label is cut to what the decoder accepts rather than making the record unreadable.
  core::JobSpec long_label = SampleSpec();
  long_label.label = std::string(5000, 'z');
  core::JobSpec back;
  ASSERT_TRUE(DecodeJobSpec(EncodeJobSpec(long_label), &back));
  EXPECT_EQ(back.label, std::string(4096, 'z'));

  for (const std::vector<Num>& list :
       {std::vector<Num>{}, SpecialNums(), std::vector<Num>{Num::Int(41538)}}) {
    std::vector<Num> got = {Num::Int(1)};  // replaced, not appended to
    ASSERT_TRUE(DecodeNums(EncodeNums(list), &got));
    EXPECT_EQ(got, list);
  }
}

// protobuf refuses to parse a string field that is not UTF-8: the texts the encoder cuts to a
// limit (error messages, the engine, a job's label) must be cut between characters, and bytes
// that are not UTF-8 replaced, or the frame (the journal record) could not be read at all.
TEST(JobCodec, CutTextStaysReadable) {
  std::string accents = "x";  // 1 + 2 * 600 bytes: a cut at 1024 bytes splits a character
  for (int i = 0; i < 600; ++i) accents += "\xc3\xa9";
  core::Report r = SampleReport();
  r.has_error = true;
  r.error.message = accents;
  LinkMessage back;
  ASSERT_TRUE(DecodeLink(EncodeLink(r), &back)) << "a long error in French";
  EXPECT_EQ(std::get<core::Report>(back).error.message, accents.substr(0, 1023));

  r.error.message = "trap in \xff\xfe\xc3 f \xed\xa0\x80 (surrogate) \xe2\x82\xac";
  ASSERT_TRUE(DecodeLink(EncodeLink(r), &back)) << "an error that is not UTF-8";
  EXPECT_EQ(std::get<core::Report>(back).error.message,
            "trap in ??? f ??? (surrogate) \xe2\x82\xac");

  CallResult c;
  c.id = 1;
  c.engine =
      "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac";  // 18 bytes
  ASSERT_TRUE(DecodeLink(EncodeLink(c), &back));
  EXPECT_EQ(std::get<CallResult>(back).engine, c.engine.substr(0, 15));

  ModuleData d{Digest(1), 0, 0, "", accents};
  ASSERT_TRUE(DecodeLink(EncodeLink(d), &back));
  EXPECT_EQ(std::get<ModuleData>(back).error, accents.substr(0, 1023));

  core::JobSpec spec = SampleSpec();
  const std::string long_label = accents + accents + accents + accents;  // 4804 bytes
  spec.label = "\xff" + long_label;
  core::JobSpec spec_back;
  ASSERT_TRUE(DecodeJobSpec(EncodeJobSpec(spec), &spec_back)) << "a long label";
  // "?" and 4095 more bytes would end inside the e-acute at 4094..4095 of long_label.
  EXPECT_EQ(spec_back.label, "?" + long_label.substr(0, 4094));
}

// A valid frame built with the generated classes, to break one rule at a time.
pb::LinkFrame ValidAssign() {
  pb::LinkFrame p;
  pb::TaskAssign* a = p.mutable_assign();
  a->set_job(1);
  a->set_attempt(1);
  a->set_module(std::string(32, 'h'));
  a->set_func("f");
  a->set_start(0);
  a->set_end(10);
  a->set_reducer(pb::REDUCER_SUM);
  a->set_slice_ms(100);
  return p;
}
pb::LinkFrame ValidReport() {
  pb::LinkFrame p;
  pb::TaskReport* r = p.mutable_report();
  r->set_job(1);
  r->set_attempt(1);
  r->set_upto(5);
  r->set_running_to(6);
  r->mutable_partial()->add_values()->set_int_(3);
  return p;
}
pb::LinkFrame ValidModuleData() {
  pb::LinkFrame p;
  pb::ModuleData* d = p.mutable_module_data();
  d->set_hash(std::string(32, 'h'));
  d->set_total(100);
  d->set_offset(40);
  d->set_data(std::string(60, 'd'));
  return p;
}
pb::LinkFrame ValidCall() {
  pb::LinkFrame p;
  pb::CallRequest* c = p.mutable_call();
  c->set_id(1);
  c->set_module(std::string(32, 'h'));
  c->set_func("add");
  pb::Value* v = c->add_args();
  v->set_type(0);
  v->set_bits(0xffffffffu);
  return p;
}
pb::LinkFrame ValidCallResult() {
  pb::LinkFrame p;
  pb::CallResult* c = p.mutable_call_result();
  c->set_id(1);
  pb::Value* v = c->add_values();
  v->set_type(3);
  v->set_bits(~uint64_t{0});
  c->set_engine("interp");
  return p;
}

bool Decodes(const pb::LinkFrame& p) {
  LinkMessage m;
  bool ok = DecodeLink(p.SerializeAsString(), &m);
  if (ok) ExpectWithinLimits(m);
  return ok;
}

TEST(JobCodec, RefusesMalformedAssignsCancelsAndReports) {
  ASSERT_TRUE(Decodes(ValidAssign()));
  pb::LinkFrame p = ValidAssign();
  p.mutable_assign()->set_job(0);
  EXPECT_FALSE(Decodes(p)) << "job 0";
  p = ValidAssign();
  p.mutable_assign()->set_attempt(0);
  EXPECT_FALSE(Decodes(p)) << "attempt 0";
  p = ValidAssign();
  p.mutable_assign()->set_start(10);
  EXPECT_FALSE(Decodes(p)) << "start == end";
  p.mutable_assign()->set_start(11);
  EXPECT_FALSE(Decodes(p)) << "start > end";
  for (size_t n : {0, 16, 31, 33, 64}) {
    p = ValidAssign();
    p.mutable_assign()->set_module(std::string(n, 'h'));
    EXPECT_FALSE(Decodes(p)) << "digest of " << n << " bytes";
  }
  p = ValidAssign();
  p.mutable_assign()->set_func("");
  EXPECT_FALSE(Decodes(p)) << "empty func";
  p.mutable_assign()->set_func(std::string(core::kMaxFuncName, 'f'));
  EXPECT_TRUE(Decodes(p)) << "longest func";
  p.mutable_assign()->set_func(std::string(core::kMaxFuncName + 1, 'f'));
  EXPECT_FALSE(Decodes(p)) << "oversized func";
  p = ValidAssign();
  p.mutable_assign()->set_reducer(static_cast<pb::Reducer>(4));
  EXPECT_FALSE(Decodes(p)) << "unknown reducer";
  p.mutable_assign()->set_reducer(static_cast<pb::Reducer>(-1));
  EXPECT_FALSE(Decodes(p)) << "negative reducer";
  p = ValidAssign();
  p.mutable_assign()->set_max_memory_pages(65537);
  EXPECT_FALSE(Decodes(p)) << "more than 4 GiB of memory";
  p = ValidAssign();
  p.mutable_assign()->set_slice_ms(0);
  EXPECT_FALSE(Decodes(p)) << "slice of 0 ms";

  pb::LinkFrame c;
  c.mutable_cancel()->set_job(0);
  c.mutable_cancel()->set_attempt(5);
  EXPECT_FALSE(Decodes(c)) << "cancel of job 0";
  c.mutable_cancel()->set_job(5);
  EXPECT_TRUE(Decodes(c));

  ASSERT_TRUE(Decodes(ValidReport()));
  p = ValidReport();
  p.mutable_report()->set_job(0);
  EXPECT_FALSE(Decodes(p)) << "report of job 0";
  p = ValidReport();
  p.mutable_report()->set_attempt(0);
  EXPECT_FALSE(Decodes(p)) << "report of attempt 0";
  p = ValidReport();
  p.mutable_report()->set_running_to(4);
  EXPECT_FALSE(Decodes(p)) << "running_to < upto";
  p = ValidReport();
  for (size_t i = 1; i < core::kMaxResultValues; ++i)
    p.mutable_report()->mutable_partial()->add_values()->set_f64_bits(i);
  EXPECT_TRUE(Decodes(p)) << "as many values as an export can return";
  p.mutable_report()->mutable_partial()->add_values()->set_f32_bits(1);
  EXPECT_FALSE(Decodes(p)) << "too many values";
  p = ValidReport();
  p.mutable_report()->mutable_partial()->add_values();  // no value set
  EXPECT_FALSE(Decodes(p)) << "a number without a value";
  p = ValidReport();
  p.mutable_report()->mutable_error()->set_message(std::string(core::kMaxErrorMessage, 'm'));
  EXPECT_TRUE(Decodes(p));
  p.mutable_report()->mutable_error()->set_message(std::string(core::kMaxErrorMessage + 1, 'm'));
  EXPECT_FALSE(Decodes(p)) << "oversized error message";
}

TEST(JobCodec, RefusesMalformedSliceOutputAndLabels) {
  auto with_output = [](int64_t lo, int64_t hi, size_t out_bytes, size_t err_bytes) {
    pb::LinkFrame p = ValidReport();  // upto 5, running_to 6
    pb::SliceOutput* o = p.mutable_report()->mutable_output();
    o->set_lo(lo);
    o->set_hi(hi);
    o->set_stdout_data(std::string(out_bytes, 'o'));
    o->set_stderr_data(std::string(err_bytes, 'e'));
    return p;
  };
  EXPECT_TRUE(Decodes(with_output(2, 5, 10, 10))) << "the slice that ended at upto";
  EXPECT_TRUE(Decodes(with_output(5, 6, 0, 3))) << "the slice running (it failed)";
  EXPECT_TRUE(Decodes(with_output(2, 5, core::kMaxSliceOutputBytes, core::kMaxSliceOutputBytes)))
      << "both streams at the cap";
  EXPECT_FALSE(Decodes(with_output(2, 5, core::kMaxSliceOutputBytes + 1, 0))) << "stdout past cap";
  EXPECT_FALSE(Decodes(with_output(2, 5, 0, core::kMaxSliceOutputBytes + 1))) << "stderr past cap";
  EXPECT_FALSE(Decodes(with_output(5, 5, 1, 0))) << "an empty range";
  EXPECT_FALSE(Decodes(with_output(5, 2, 1, 0))) << "a reversed range";
  EXPECT_FALSE(Decodes(with_output(2, 7, 1, 0))) << "a slice past running_to";
  EXPECT_FALSE(Decodes(with_output(INT64_MIN, INT64_MAX, 1, 0))) << "the whole domain";
  pb::LinkFrame p = with_output(2, 5, 1, 1);
  p.mutable_report()->mutable_output()->set_stdout_data("\xff\xfe binary");
  LinkMessage m;
  ASSERT_TRUE(DecodeLink(p.SerializeAsString(), &m)) << "bytes need not be UTF-8";
  EXPECT_EQ(std::get<core::Report>(m).output->text(core::OutputStream::kStdout), "\xff\xfe binary");
  EXPECT_FALSE(std::get<core::Report>(m).output->truncated);

  // The encoder never sends more than the decoder takes.
  core::Report big;
  big.job = big.attempt = 1;
  big.upto = 10;
  big.running_to = 10;
  big.partial.values = {Num::Int(1)};
  big.output =
      core::SliceOutput{0, 10, {std::string(core::kMaxSliceOutputBytes + 9, 'x'), ""}, true};
  ASSERT_TRUE(DecodeLink(EncodeLink(big), &m));
  EXPECT_EQ(std::get<core::Report>(m).output->text(core::OutputStream::kStdout).size(),
            core::kMaxSliceOutputBytes);

  pb::LinkFrame a = ValidAssign();
  a.mutable_assign()->set_reduce_func("matmul");
  EXPECT_FALSE(Decodes(a)) << "a reducer export with a built-in reducer";
  a.mutable_assign()->set_reducer(pb::REDUCER_MODULE);
  EXPECT_TRUE(Decodes(a)) << "a module reducer";
  for (size_t i = 0; i < core::kMaxResultValues; i++)
    a.mutable_assign()->mutable_base()->add_values()->set_int_(static_cast<int64_t>(i));
  EXPECT_TRUE(Decodes(a)) << "a module reducer with the largest base";
  a.mutable_assign()->mutable_base()->add_values()->set_int_(1);
  EXPECT_FALSE(Decodes(a)) << "a base of too many values";
  a.mutable_assign()->mutable_base()->clear_values();
  a.mutable_assign()->mutable_base()->add_values();
  EXPECT_FALSE(Decodes(a)) << "a base value of no type";
  a.mutable_assign()->clear_base();
  a.mutable_assign()->set_reduce_func("");
  EXPECT_FALSE(Decodes(a)) << "a module reducer without its export";
  a.mutable_assign()->set_reduce_func(std::string(core::kMaxFuncName + 1, 'r'));
  EXPECT_FALSE(Decodes(a)) << "an oversized reducer export";
  a = ValidAssign();
  a.mutable_assign()->mutable_base()->add_values()->set_int_(1);
  EXPECT_FALSE(Decodes(a)) << "a base with a built-in reducer";
  a.mutable_assign()->set_reducer(static_cast<pb::Reducer>(5));
  a.mutable_assign()->clear_base();
  EXPECT_FALSE(Decodes(a)) << "an unknown reducer";

  a = ValidAssign();
  a.mutable_assign()->set_label(std::string(core::kMaxLabel, 'l'));
  EXPECT_TRUE(Decodes(a)) << "longest label";
  a.mutable_assign()->set_label(std::string(core::kMaxLabel + 1, 'l'));
  EXPECT_FALSE(Decodes(a)) << "oversized label";
  core::Assign long_label = SampleAssign();
  long_label.label = std::string(1000, 'l');
  ASSERT_TRUE(DecodeLink(EncodeLink(long_label), &m)) << "the encoder cuts a label to the bound";
  EXPECT_EQ(std::get<core::Assign>(m).label.size(), core::kMaxLabel);
}

TEST(JobCodec, RefusesMalformedModuleFrames) {
  pb::LinkFrame r;
  r.mutable_module_request()->set_hash(std::string(32, 'h'));
  ASSERT_TRUE(Decodes(r));
  r.mutable_module_request()->set_hash(std::string(31, 'h'));
  EXPECT_FALSE(Decodes(r)) << "short digest";
  r.mutable_module_request()->clear_hash();
  EXPECT_FALSE(Decodes(r)) << "no digest";

  ASSERT_TRUE(Decodes(ValidModuleData()));
  pb::LinkFrame p = ValidModuleData();
  p.mutable_module_data()->set_hash(std::string(33, 'h'));
  EXPECT_FALSE(Decodes(p)) << "long digest";
  p = ValidModuleData();
  p.mutable_module_data()->set_offset(41);
  EXPECT_FALSE(Decodes(p)) << "piece past the total";
  p.mutable_module_data()->set_offset(101);
  p.mutable_module_data()->clear_data();
  EXPECT_FALSE(Decodes(p)) << "offset past the total";
  p = ValidModuleData();
  p.mutable_module_data()->set_total(100);
  p.mutable_module_data()->set_offset(~uint64_t{0});
  EXPECT_FALSE(Decodes(p)) << "offset that wraps";
  p = ValidModuleData();
  p.mutable_module_data()->set_total(3 * kModulePiece);
  p.mutable_module_data()->set_offset(0);
  p.mutable_module_data()->set_data(std::string(kModulePiece + 1, 'd'));
  EXPECT_FALSE(Decodes(p)) << "piece larger than kModulePiece";
  p = ValidModuleData();
  p.mutable_module_data()->set_error("gone");
  EXPECT_FALSE(Decodes(p)) << "data with an error";
  p.mutable_module_data()->clear_data();
  EXPECT_TRUE(Decodes(p)) << "an error alone";
  p.mutable_module_data()->set_error(std::string(core::kMaxErrorMessage + 1, 'e'));
  EXPECT_FALSE(Decodes(p)) << "oversized error";
}

TEST(JobCodec, RefusesMalformedCalls) {
  ASSERT_TRUE(Decodes(ValidCall()));
  pb::LinkFrame p = ValidCall();
  p.mutable_call()->set_id(0);
  EXPECT_FALSE(Decodes(p)) << "call id 0";
  p = ValidCall();
  p.mutable_call()->set_module("");
  EXPECT_FALSE(Decodes(p)) << "no digest";
  p = ValidCall();
  p.mutable_call()->set_func("");
  EXPECT_FALSE(Decodes(p)) << "empty func";
  p.mutable_call()->set_func(std::string(core::kMaxFuncName + 1, 'f'));
  EXPECT_FALSE(Decodes(p)) << "oversized func";
  p = ValidCall();
  p.mutable_call()->set_max_memory_pages(65537);
  EXPECT_FALSE(Decodes(p)) << "more than 4 GiB of memory";
  p = ValidCall();
  while (p.call().args_size() < static_cast<int>(kMaxCallValues)) p.mutable_call()->add_args();
  EXPECT_TRUE(Decodes(p)) << "as many arguments as allowed";
  p.mutable_call()->add_args();
  EXPECT_FALSE(Decodes(p)) << "too many arguments";
  for (uint32_t type : {4u, 5u, 0xffffffffu}) {
    p = ValidCall();
    p.mutable_call()->mutable_args(0)->set_type(type);
    EXPECT_FALSE(Decodes(p)) << "value type " << type;
  }
  for (uint32_t type : {0u, 2u}) {  // i32 and f32 carry 32 bits
    p = ValidCall();
    p.mutable_call()->mutable_args(0)->set_type(type);
    p.mutable_call()->mutable_args(0)->set_bits(uint64_t{1} << 32);
    EXPECT_FALSE(Decodes(p)) << "32-bit type " << type << " with bit 32 set";
  }
  for (uint32_t type : {1u, 3u}) {
    p = ValidCall();
    p.mutable_call()->mutable_args(0)->set_type(type);
    p.mutable_call()->mutable_args(0)->set_bits(~uint64_t{0});
    EXPECT_TRUE(Decodes(p)) << "64-bit type " << type;
  }

  ASSERT_TRUE(Decodes(ValidCallResult()));
  p = ValidCallResult();
  p.mutable_call_result()->set_id(0);
  EXPECT_FALSE(Decodes(p)) << "result of call 0";
  p = ValidCallResult();
  p.mutable_call_result()->mutable_values(0)->set_type(4);
  EXPECT_FALSE(Decodes(p)) << "unknown value type";
  p = ValidCallResult();
  p.mutable_call_result()->mutable_values(0)->set_type(0);
  EXPECT_FALSE(Decodes(p)) << "i32 with 64 bits";
  p = ValidCallResult();
  while (p.call_result().values_size() <= static_cast<int>(kMaxCallValues))
    p.mutable_call_result()->add_values();
  EXPECT_FALSE(Decodes(p)) << "too many values";
  p = ValidCallResult();
  p.mutable_call_result()->set_engine(std::string(17, 'e'));
  EXPECT_FALSE(Decodes(p)) << "oversized engine name";
  p = ValidCallResult();
  p.mutable_call_result()->mutable_error()->set_message(
      std::string(core::kMaxErrorMessage + 1, 'm'));
  EXPECT_FALSE(Decodes(p)) << "oversized error";

  pb::LinkFrame cancel;
  cancel.mutable_call_cancel()->set_id(0);
  EXPECT_FALSE(Decodes(cancel)) << "cancel of call 0";
  cancel.mutable_call_cancel()->set_id(1);
  EXPECT_TRUE(Decodes(cancel));

  pb::LinkFrame nothing;
  EXPECT_FALSE(Decodes(nothing)) << "no body";
  LinkMessage m;
  EXPECT_FALSE(DecodeLink(std::string(kMaxLinkMessageBytes + 1, '\0'), &m)) << "over the limit";
}

pb::LinkFrame Proto(const LinkMessage& m) {
  pb::LinkFrame p;
  EXPECT_TRUE(p.ParseFromString(EncodeLink(m)));
  return p;
}

TEST(JobCodec, RefusesMalformedCommands) {
  const pb::LinkFrame valid = Proto(SampleCommand());
  ASSERT_TRUE(Decodes(valid));
  pb::LinkFrame p = valid;
  p.mutable_command()->set_id(0);
  EXPECT_FALSE(Decodes(p)) << "command id 0";
  p = valid;
  p.mutable_command()->set_module("short");
  EXPECT_FALSE(Decodes(p)) << "bad digest";
  p = valid;
  p.mutable_command()->clear_args();
  EXPECT_FALSE(Decodes(p)) << "no argv[0]";
  p = valid;
  p.mutable_command()->set_max_memory_pages(65537);
  EXPECT_FALSE(Decodes(p)) << "more than 4 GiB of memory";
  p = valid;
  while (p.command().args_size() + p.command().env_size() < static_cast<int>(kMaxCommandArgs))
    p.mutable_command()->add_env("X=");
  EXPECT_TRUE(Decodes(p)) << "as many words as allowed";
  p.mutable_command()->add_args("one more");
  EXPECT_FALSE(Decodes(p)) << "too many words";
  p = valid;
  p.mutable_command()->add_args(std::string(kMaxCommandArgBytes, 'a'));
  EXPECT_FALSE(Decodes(p)) << "too many bytes of words";
  p = valid;
  while (p.command().dirs_size() <= static_cast<int>(kMaxCommandDirs))
    p.mutable_command()->add_dirs("d");
  EXPECT_FALSE(Decodes(p)) << "too many directories";
  for (const std::string& bad :
       {std::string(), std::string(kMaxCommandPathBytes + 1, 'd'), std::string("a\0b", 3)}) {
    p = valid;
    p.mutable_command()->set_dirs(0, bad);
    EXPECT_FALSE(Decodes(p)) << "directory name of " << bad.size() << " bytes";
  }
  p = valid;
  p.mutable_command()->mutable_inputs(0)->set_dir(2);
  EXPECT_FALSE(Decodes(p)) << "input in a directory not sent";
  p = valid;
  p.mutable_command()->clear_dirs();
  EXPECT_FALSE(Decodes(p)) << "inputs without directories";
  for (const char* path : {"", "/etc/passwd", "../up", "a/../../b", "a//b", "./a", "a/.", "a/"}) {
    p = valid;
    p.mutable_command()->mutable_inputs(1)->set_path(path);
    EXPECT_FALSE(Decodes(p)) << "input path '" << path << "'";
  }
  p = valid;
  *p.mutable_command()->add_inputs() = valid.command().inputs(1);
  EXPECT_FALSE(Decodes(p)) << "two inputs at one path";
  p = valid;
  p.mutable_command()->mutable_inputs(0)->set_hash("");
  EXPECT_FALSE(Decodes(p)) << "input without a hash";
  p = valid;
  p.mutable_command()->mutable_inputs(0)->set_size(kMaxCommandInputBytes);
  EXPECT_FALSE(Decodes(p)) << "inputs and stdin over the cap together";
  p = valid;
  p.mutable_command()->mutable_stdin()->set_size(kMaxCommandInputBytes + 1);
  EXPECT_FALSE(Decodes(p)) << "stdin over the cap";
  p = valid;
  for (int i = 0; i <= static_cast<int>(kMaxCommandFiles); ++i) {
    pb::FileRef* f = p.mutable_command()->add_inputs();
    *f = valid.command().inputs(1);
    f->set_path("f" + std::to_string(i));
  }
  EXPECT_FALSE(Decodes(p)) << "too many files";

  pb::LinkFrame output = Proto(CommandOutput{1, 1, "x"});
  ASSERT_TRUE(Decodes(output));
  for (uint32_t stream : {0u, 3u}) {
    p = output;
    p.mutable_command_output()->set_stream(stream);
    EXPECT_FALSE(Decodes(p)) << "stream " << stream;
  }
  p = output;
  p.mutable_command_output()->set_data("");
  EXPECT_FALSE(Decodes(p)) << "empty output";
  p.mutable_command_output()->set_data(std::string(kCommandOutputPiece + 1, 'o'));
  EXPECT_FALSE(Decodes(p)) << "oversized output";
  p = output;
  p.mutable_command_output()->set_id(0);
  EXPECT_FALSE(Decodes(p)) << "output of command 0";

  CommandResult done;
  done.id = 1;
  done.engine = "interp";
  done.out = {FileRef{0, "a", Digest(1), 1}};
  const pb::LinkFrame result = Proto(done);
  ASSERT_TRUE(Decodes(result));
  p = result;
  p.mutable_command_result()->set_id(0);
  EXPECT_FALSE(Decodes(p)) << "result of command 0";
  p = result;
  p.mutable_command_result()->set_engine(std::string(17, 'e'));
  EXPECT_FALSE(Decodes(p)) << "oversized engine name";
  p = result;
  p.mutable_command_result()->set_out_error(std::string(core::kMaxErrorMessage + 1, 'e'));
  EXPECT_FALSE(Decodes(p)) << "oversized /out error";
  p = result;
  p.mutable_command_result()->mutable_out(0)->set_path("../escape");
  EXPECT_FALSE(Decodes(p)) << "/out file outside /out";
  p = result;
  *p.mutable_command_result()->add_out() = result.command_result().out(0);
  EXPECT_FALSE(Decodes(p)) << "two /out files at one path";
  p = result;
  p.mutable_command_result()->mutable_out(0)->set_dir(1);
  EXPECT_FALSE(Decodes(p)) << "/out file in a second directory";
  p = result;
  p.mutable_command_result()->mutable_out(0)->set_size(kMaxCommandOutBytes + 1);
  EXPECT_FALSE(Decodes(p)) << "/out over the cap";

  pb::LinkFrame cancel;
  cancel.mutable_command_cancel()->set_id(0);
  EXPECT_FALSE(Decodes(cancel)) << "cancel of command 0";

  const pb::LinkFrame request = Proto(BlobRequest{1, Digest(2), 0, false});
  ASSERT_TRUE(Decodes(request));
  p = request;
  p.mutable_blob_request()->set_id(0);
  EXPECT_FALSE(Decodes(p)) << "blob of command 0";
  p = request;
  p.mutable_blob_request()->set_hash(std::string(31, 'h'));
  EXPECT_FALSE(Decodes(p)) << "short hash";

  const pb::LinkFrame data = Proto(BlobData{1, Digest(2), 10, 4, "abcdef", "", false});
  ASSERT_TRUE(Decodes(data));
  p = data;
  p.mutable_blob_data()->set_offset(11);
  EXPECT_FALSE(Decodes(p)) << "offset past the total";
  p = data;
  p.mutable_blob_data()->set_offset(5);
  EXPECT_FALSE(Decodes(p)) << "piece past the total";
  p = data;
  p.mutable_blob_data()->set_total(kModulePiece * 2);
  p.mutable_blob_data()->set_data(std::string(kModulePiece + 1, 'd'));
  EXPECT_FALSE(Decodes(p)) << "oversized piece";
  p = data;
  p.mutable_blob_data()->set_error("both data and an error");
  EXPECT_FALSE(Decodes(p)) << "data with an error";
  p = data;
  p.mutable_blob_data()->set_data("");
  p.mutable_blob_data()->set_error(std::string(core::kMaxErrorMessage + 1, 'e'));
  EXPECT_FALSE(Decodes(p)) << "oversized error";
  p = data;
  p.mutable_blob_data()->set_id(0);
  EXPECT_FALSE(Decodes(p)) << "data of command 0";
}

TEST(JobCodec, RefusesMalformedJournalRecords) {
  const pb::JobSpecRecord good = [] {
    pb::JobSpecRecord p;
    p.set_module(std::string(32, 'h'));
    p.set_func("f");
    p.set_start(0);
    p.set_end(1);
    p.add_result_kinds(0);
    return p;
  }();
  auto decodes = [](const pb::JobSpecRecord& p) {
    core::JobSpec s;
    return DecodeJobSpec(p.SerializeAsString(), &s);
  };
  ASSERT_TRUE(decodes(good));
  pb::JobSpecRecord p = good;
  p.set_module(std::string(31, 'h'));
  EXPECT_FALSE(decodes(p)) << "bad digest";
  p = good;
  p.set_func("");
  EXPECT_FALSE(decodes(p)) << "empty func";
  p.set_func(std::string(core::kMaxFuncName + 1, 'f'));
  EXPECT_FALSE(decodes(p)) << "oversized func";
  p = good;
  p.set_end(0);
  EXPECT_FALSE(decodes(p)) << "start >= end";
  p = good;
  p.set_reducer(static_cast<pb::Reducer>(9));
  EXPECT_FALSE(decodes(p)) << "unknown reducer";
  p = good;
  p.clear_result_kinds();
  EXPECT_FALSE(decodes(p)) << "no result kinds";
  p = good;
  while (p.result_kinds_size() <= static_cast<int>(core::kMaxResultValues)) p.add_result_kinds(1);
  EXPECT_FALSE(decodes(p)) << "too many result kinds";
  p = good;
  p.add_result_kinds(3);
  EXPECT_FALSE(decodes(p)) << "unknown result kind";
  p = good;
  p.set_label(std::string(4097, 'l'));
  EXPECT_FALSE(decodes(p)) << "oversized label";
  p = good;
  p.set_reduce_func("matmul");
  EXPECT_FALSE(decodes(p)) << "a reducer export with a built-in reducer";
  p.set_reducer(pb::REDUCER_MODULE);
  EXPECT_TRUE(decodes(p)) << "a module reducer";
  p.clear_reduce_func();
  EXPECT_FALSE(decodes(p)) << "a module reducer without its export";
  p.set_reduce_func(std::string(core::kMaxFuncName + 1, 'r'));
  EXPECT_FALSE(decodes(p)) << "an oversized reducer export";

  std::vector<Num> nums;
  pb::NumList list;
  for (size_t i = 0; i < core::kMaxResultValues; ++i) list.add_values()->set_int_(-1);
  EXPECT_TRUE(DecodeNums(list.SerializeAsString(), &nums));
  EXPECT_EQ(nums.size(), core::kMaxResultValues);
  list.add_values()->set_int_(-1);
  EXPECT_FALSE(DecodeNums(list.SerializeAsString(), &nums)) << "too many values";
  list.Clear();
  list.add_values();
  EXPECT_FALSE(DecodeNums(list.SerializeAsString(), &nums)) << "a number without a value";
  EXPECT_FALSE(DecodeNums(std::string(4097, '\0'), &nums)) << "over the limit";
  EXPECT_FALSE(DecodeNums(std::string("\x0a\x05\x08", 3), &nums)) << "truncated";
}

// Random bytes often hold invalid UTF-8 in a string field: an expected rejection that
// protobuf would log, one line each.
class QuietProtobuf {
 public:
  QuietProtobuf() : old_(google::protobuf::SetLogHandler(nullptr)) {}
  ~QuietProtobuf() { google::protobuf::SetLogHandler(old_); }

 private:
  google::protobuf::LogHandler* old_;
};

// Every prefix of every sample, and bit flips of each: refused or within the limits.
TEST(JobCodec, SurvivesTruncationsAndMutations) {
  QuietProtobuf quiet;
  const uint64_t seed = sim::SeedFromEnv(21);
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay: VELUM_SIM_SEED=" + std::to_string(seed) +
               ")");
  core::Rng rng(seed);
  for (const LinkMessage& sample : Samples()) {
    const std::string good = EncodeLink(sample);
    if (good.size() > 100000) continue;  // the full module piece: its prefixes add nothing
    // A frame's body is one length-delimited field: every strict prefix cuts it short.
    for (size_t n = 0; n < good.size(); ++n) {
      LinkMessage out;
      EXPECT_FALSE(DecodeLink(std::string_view(good).substr(0, n), &out))
          << "prefix of " << n << " of " << good.size() << " bytes";
    }
    for (int i = 0; i < 1000; ++i) {
      std::string bad = good;
      const int flips = 1 + static_cast<int>(rng.Uniform(4));
      for (int f = 0; f < flips; ++f)
        bad[rng.Uniform(bad.size())] ^= static_cast<char>(1 << rng.Uniform(8));
      LinkMessage out;
      if (DecodeLink(bad, &out)) ExpectWithinLimits(out);
    }
  }

  for (const std::string& good : {EncodeJobSpec(SampleSpec()), EncodeNums(SpecialNums())}) {
    for (size_t n = 0; n < good.size(); ++n) {
      core::JobSpec spec;
      std::vector<Num> nums;
      if (DecodeNums(std::string_view(good).substr(0, n), &nums)) {
        EXPECT_LE(nums.size(), core::kMaxResultValues);
      }
      if (DecodeJobSpec(std::string_view(good).substr(0, n), &spec)) {
        EXPECT_LT(spec.start, spec.end);
      }
    }
  }
}

TEST(JobCodec, SurvivesRandomBytes) {
  QuietProtobuf quiet;
  const uint64_t seed = sim::SeedFromEnv(22);
  SCOPED_TRACE("seed=" + std::to_string(seed) + " (replay: VELUM_SIM_SEED=" + std::to_string(seed) +
               ")");
  core::Rng rng(seed);
  int accepted = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string bytes(rng.Uniform(200), '\0');
    for (char& c : bytes) c = static_cast<char>(rng.Next());
    // Half start with a valid tag of the LinkFrame oneof (field 1..10, length-delimited),
    // so the bodies' decoders see random input too, not only protobuf's parser.
    if (!bytes.empty() && rng.Chance(0.5))
      bytes[0] = static_cast<char>((1 + rng.Uniform(10)) << 3 | 2);
    LinkMessage m;
    if (DecodeLink(bytes, &m)) {
      accepted++;
      ExpectWithinLimits(m);
    }
    core::JobSpec spec;
    if (DecodeJobSpec(bytes, &spec)) {
      EXPECT_LT(spec.start, spec.end);
      EXPECT_FALSE(spec.result_kinds.empty());
    }
    std::vector<Num> nums;
    if (DecodeNums(bytes, &nums)) {
      EXPECT_LE(nums.size(), core::kMaxResultValues);
    }
  }
  EXPECT_LT(accepted, 25000);
}

}  // namespace
}  // namespace velum::wire
