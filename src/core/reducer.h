// Reduction of per-range results: one slice's results become a Partial, and partials of
// adjacent ranges combine, lower range first, into the partial of their union.
#ifndef VELUM_CORE_REDUCER_H_
#define VELUM_CORE_REDUCER_H_

#include <string>
#include <vector>

#include "core/job_types.h"

namespace velum::core {

// The partial of [a, c) from those of [a, b) (lower) and [b, c) (upper). Built-in reducers
// only, or either side empty: a module reducer's partials are combined by its export.
Partial Combine(ReducerKind reducer, const Partial& lower, const Partial& upper);

// The partial of one call's results. Sums widen f32 to f64; `first` keeps only a result
// that is not all zeros (an all-zero result means "nothing found here").
Partial SlicePartial(ReducerKind reducer, const std::vector<Num>& results);

// The kinds of the reduced values, given the kinds of the export's results.
std::vector<NumKind> ReducedKinds(ReducerKind reducer, const std::vector<NumKind>& results);

// Whether a partial (received from a worker) has the shape a reduction of these kinds has.
bool Conforms(const Partial& partial, const std::vector<NumKind>& kinds);

// The answer of a finished reduction: an empty partial (first: nothing found) reads as zeros.
std::vector<Num> FinalValues(const Partial& partial, const std::vector<NumKind>& kinds);

// Shortest text that reads back to the same number: "41538", "3.14159", "nan", "-inf".
std::string FormatNum(const Num& num);

}  // namespace velum::core

#endif  // VELUM_CORE_REDUCER_H_
