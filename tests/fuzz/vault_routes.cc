// Fuzz target: vaultd's routes (VaultService::Handle in process, the JSON
// bodies, paths, queries and headers a machine or an administrator sends)
// over the real metadata and local-folder stores of vault_fixture.h. Input:
// the text request of fuzz_util.h, with $admin, $machine, $recovery, $lease,
// $creds, … standing for the fixture's live values, so mutations get past
// authentication. Every answer must be a status of 100-599 whose JSON body
// parses and that is not an exception escaped from a handler (500
// "internal error"), and a streamed body must send exactly the length it
// announced. OBAGENT_FUZZ_VERBOSE=1 prints each request's answer.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_util.h"
#include "vault_fixture.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace obagent;
  static fuzz::VaultFixture* fixture = new fuzz::VaultFixture();
  fuzz::TextRequest text = fuzz::ParseTextRequest(fuzz::AsText(data, size));
  vault::ServiceRequest req;
  req.method = text.method;
  req.path = fixture->Substitute(text.path);
  req.query = fixture->Substitute(text.query);
  for (const auto& [name, value] : text.headers) req.headers[name] = fixture->Substitute(value);
  const std::string body = fixture->Substitute(text.body);
  if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
    const std::string& v = it->second;
    if (!v.empty() && v.size() <= 19 && v.find_first_not_of("0123456789") == std::string::npos) {
      req.content_length = std::stoull(v);
    }
  }
  storage::MemorySource source(AsBytes(body));
  req.body_source = &source;

  vault::ServiceResponse resp = fixture->Handle(req);
  static const bool verbose = std::getenv("OBAGENT_FUZZ_VERBOSE") != nullptr;
  if (verbose) {
    std::fprintf(stderr, "%s %s -> %d %.200s\n", req.method.c_str(), req.path.c_str(), resp.status,
                 std::string(resp.body.begin(), resp.body.end()).c_str());
  }
  if (resp.status < 100 || resp.status > 599) std::abort();
  if (resp.content_type == "application/json") {
    auto j = nlohmann::json::parse(resp.body.begin(), resp.body.end(), nullptr, false);
    if (j.is_discarded()) std::abort();  // the service answers JSON it wrote itself
    // An exception that escaped a handler: bad input must get a clear
    // error, not an internal one.
    if (resp.status == 500 && j.is_object() &&
        j.value("message", "").starts_with("internal error")) {
      std::fprintf(stderr, "escaped exception: %s\n", j.value("message", "").c_str());
      std::abort();
    }
  }
  if (resp.stream_body) {
    storage::MemorySink sink;
    Status sent = resp.stream_body(sink);
    if (sent.ok() && resp.content_length && sink.bytes().size() != *resp.content_length) {
      std::abort();
    }
  }
  fixture->Restore();
  return 0;
}
