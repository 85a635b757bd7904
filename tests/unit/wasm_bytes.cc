// The hand-assembled wasm of wasm_bytes.h: the binary format's encodings, emitted directly so
// that tests can build invalid and huge modules without tools.
#include "tests/unit/wasm_bytes.h"

namespace velum::test {

std::vector<uint8_t> LebU(uint64_t value) {
  std::vector<uint8_t> out;
  do {
    uint8_t byte = value & 0x7f;
    value >>= 7;
    if (value) byte |= 0x80;
    out.push_back(byte);
  } while (value);
  return out;
}

std::vector<uint8_t> LebS(int64_t value) {
  std::vector<uint8_t> out;
  for (;;) {
    uint8_t byte = value & 0x7f;
    value >>= 7;  // arithmetic shift
    bool done = (value == 0 && !(byte & 0x40)) || (value == -1 && (byte & 0x40));
    if (!done) byte |= 0x80;
    out.push_back(byte);
    if (done) return out;
  }
}

void Append(std::vector<uint8_t>* out, const std::vector<uint8_t>& more) {
  out->insert(out->end(), more.begin(), more.end());
}

std::vector<uint8_t> Name(const std::string& name) {
  std::vector<uint8_t> out = LebU(name.size());
  out.insert(out.end(), name.begin(), name.end());
  return out;
}

std::vector<uint8_t> Section(uint8_t id, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out = {id};
  Append(&out, LebU(payload.size()));
  Append(&out, payload);
  return out;
}

std::vector<uint8_t> WasmModule(const std::vector<std::vector<uint8_t>>& sections) {
  std::vector<uint8_t> out = {0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00};
  for (const auto& s : sections) Append(&out, s);
  return out;
}

std::vector<uint8_t> CodeSection(const std::vector<uint8_t>& body_without_locals) {
  std::vector<uint8_t> body = {0x00};  // no locals
  Append(&body, body_without_locals);
  std::vector<uint8_t> payload = {0x01};
  Append(&payload, LebU(body.size()));
  Append(&payload, body);
  return Section(10, payload);
}

std::vector<uint8_t> ExportFunc(const std::string& name, uint32_t index) {
  std::vector<uint8_t> payload = {0x01};
  Append(&payload, Name(name));
  payload.push_back(0x00);  // func
  Append(&payload, LebU(index));
  return Section(7, payload);
}

}  // namespace velum::test
