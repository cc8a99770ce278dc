// The local API's framing: one '\n'-terminated line per request and reply.
// The Unix socket (posix/service_posix.cc) and the named pipe
// (win/service_win.cc) both read through a LineBuffer, so a line split
// across reads, several lines in one read and an endless line are handled
// the same way on both. No OS calls here. Internal to src/platform.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>

#include "obagent/status.h"

namespace obagent::platform {

class LineBuffer {
 public:
  // A line longer than this is not a request of ours: refuse instead of
  // buffering without bound.
  static constexpr size_t kDefaultMaxLine = 16u << 20;

  // Reads into `into` and returns how many bytes it read (0: nothing this
  // time, read again), or the transport's error, its end of stream included.
  using ReadFn = std::function<Result<size_t>(std::span<char> into)>;

  explicit LineBuffer(size_t max_line = kDefaultMaxLine) : max_line_(max_line) {}

  // The next line without its '\n'. Reads through `read` only while no
  // whole line is buffered; what follows the line stays for the next call.
  // kInvalidArgument once more than the limit is buffered without a '\n'.
  Result<std::string> ReadLine(const ReadFn& read);

 private:
  size_t max_line_;
  std::string buffer_;
};

}  // namespace obagent::platform
