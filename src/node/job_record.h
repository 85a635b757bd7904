// A finished job's record in the journal beyond its spec, state and result: the summary that
// `result JOB` prints after a restart (workers, losses, the failure) and its output.
#ifndef VELUM_NODE_JOB_RECORD_H_
#define VELUM_NODE_JOB_RECORD_H_

#include <cstdint>

#include "core/coordinator.h"
#include "node/node.h"

namespace velum {

// The version written in each record (wire JobOutcome.version). Fields are only ever added:
// a record of an older version decodes with what it has, the rest left at its default.
constexpr uint32_t kJobOutcomeVersion = 1;
// What stored records may hold (one past these is damaged): a summary (its workers are
// bounded by the membership, its losses by JobStats::kMaxFailureRecords), and an output
// record: the job's own cap on output, plus its framing.
constexpr size_t kMaxStoredSummaryBytes = 1 << 20;
constexpr size_t kMaxStoredOutputBytes = 2 * core::kMaxJobOutputBytes;

// Fills job->summary and job->output from `s`, the finished job's summary with its output.
void RecordOutcome(const JobSummary& s, core::JournalJob* job);

// The summary of a journaled job: its fields, then what its records hold (output too if
// with_output). A record missing or not decoding is said in JobSummary::details.
JobSummary SummaryOfRecord(const core::JournalJob& job, bool with_output);

// What a summary says of the job's spec (module, export, range, reducer): the one mapping,
// for a job in memory (JobDriver::Summarize) and one read back from the journal alike.
void SummarizeSpec(const core::JobSpec& spec, JobSummary* s);

}  // namespace velum

#endif  // VELUM_NODE_JOB_RECORD_H_
