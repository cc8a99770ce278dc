// Fuzz target: the engine's local API as cbengine reads it from a client
// (obctl, or any local process that reaches the socket): the byte stream
// split into lines by platform::LineBuffer, each line through
// api::HandleRequestLine, against a real EngineService on a scratch state
// folder with no registration (so no request can start real work). Input:
// byte 0 sets the size of the reads (1-64 bytes), the rest is the stream.
// Every answer must be one line of JSON with a boolean "ok".
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "fuzz_util.h"
#include "obagent/api/local_api.h"
#include "obagent/engine/engine_service.h"
#include "platform/line_buffer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  static platform::Env& env = platform::Env::Default();
  static engine::EngineService* engine = new engine::EngineService(
      env, engine::EngineOptions{fuzz::ScratchDir("local-api"), "/nonexistent/obctl", {}});
  if (size == 0) return 0;
  const size_t read_size = 1 + data[0] % 64;
  std::string_view stream = fuzz::AsText(data + 1, size - 1);
  platform::LineBuffer lines(/*max_line=*/4096);
  auto read = [&stream, read_size](std::span<char> into) -> Result<size_t> {
    if (stream.empty()) return NotFound("end of stream");
    const size_t n = std::min({read_size, into.size(), stream.size()});
    std::memcpy(into.data(), stream.data(), n);
    stream.remove_prefix(n);
    return n;
  };
  for (;;) {
    auto line = lines.ReadLine(read);
    if (!line.ok()) break;
    std::string answer = api::HandleRequestLine(*engine, env, *line, "http://127.0.0.1:1/#token=t");
    if (answer.find('\n') != std::string::npos) std::abort();
    auto j = nlohmann::json::parse(answer, nullptr, false);
    if (!j.is_object() || !j.contains("ok") || !j["ok"].is_boolean()) std::abort();
  }
  return 0;
}
