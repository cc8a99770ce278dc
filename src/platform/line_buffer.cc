#include "platform/line_buffer.h"

namespace obagent::platform {

Result<std::string> LineBuffer::ReadLine(const ReadFn& read) {
  for (;;) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (buffer_.size() > max_line_) return InvalidArgument("local API: message too long");
    char chunk[4096];
    OB_ASSIGN_OR_RETURN(size_t got, read(chunk));
    buffer_.append(chunk, got);
  }
}

}  // namespace obagent::platform
