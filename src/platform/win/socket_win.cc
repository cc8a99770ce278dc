// winsock2.h before anything that includes windows.h.
#include <winsock2.h>

#include <string>

#include "obagent/platform.h"

namespace obagent::platform {

Status PrepareListeningSocket(uint64_t native_socket) {
  BOOL on = TRUE;
  if (::setsockopt(static_cast<SOCKET>(native_socket), SOL_SOCKET, SO_EXCLUSIVEADDRUSE,
                   reinterpret_cast<const char*>(&on), sizeof on) != 0) {
    return IoError("setsockopt(SO_EXCLUSIVEADDRUSE): WSA error " +
                   std::to_string(WSAGetLastError()));
  }
  return Status::Ok();
}

}  // namespace obagent::platform
