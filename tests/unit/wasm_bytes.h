// Hand-assembled WebAssembly binaries for tests: LEB128, sections, a module's header, a code
// section of one function and a function export. No gtest: the simulators use it too.
#ifndef VELUM_TESTS_UNIT_WASM_BYTES_H_
#define VELUM_TESTS_UNIT_WASM_BYTES_H_

#include <cstdint>
#include <string>
#include <vector>

namespace velum::test {

std::vector<uint8_t> LebU(uint64_t value);
std::vector<uint8_t> LebS(int64_t value);
void Append(std::vector<uint8_t>* out, const std::vector<uint8_t>& more);
std::vector<uint8_t> Name(const std::string& name);  // its length, then its bytes
std::vector<uint8_t> Section(uint8_t id, const std::vector<uint8_t>& payload);
// The header ("\0asm", version 1) and the sections, in order.
std::vector<uint8_t> WasmModule(const std::vector<std::vector<uint8_t>>& sections);
// A code section of one function without locals: its body (instructions and the final end).
std::vector<uint8_t> CodeSection(const std::vector<uint8_t>& body_without_locals);
// An export section of one function export.
std::vector<uint8_t> ExportFunc(const std::string& name, uint32_t index);

}  // namespace velum::test

#endif  // VELUM_TESTS_UNIT_WASM_BYTES_H_
