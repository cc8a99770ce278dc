#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "obagent/platform.h"

namespace obagent::platform {

Status PrepareListeningSocket(uint64_t native_socket) {
  int on = 1;
  if (::setsockopt(static_cast<int>(native_socket), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) !=
      0) {
    return IoError(std::string("setsockopt(SO_REUSEADDR): ") + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace obagent::platform
