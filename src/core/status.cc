#include "obagent/status.h"

#include <cstdio>

namespace obagent {

std::string os_error::Format(uint32_t hresult) {
  if (hresult == kNone) return "";
  char text[16];
  std::snprintf(text, sizeof text, "0x%08X", static_cast<unsigned>(hresult));
  return text;
}

std::string_view CatalogueId(ErrorCode code) {
  switch (code) {
    case ErrorCode::kPassphraseNotConfigured:
      return "34506";
    case ErrorCode::kActivationFailed:
      return "0x1FC07";
    case ErrorCode::kScratchInaccessible:
      return "SalVhdInitializationError";
    case ErrorCode::kLowDiskSpace:
      return "SalLowDiskSpace";
    case ErrorCode::kChecksumStoreFailed:
      return "SalChecksumStoreInitializationFailed";
    case ErrorCode::kInvalidVaultCredentials:
      return "34513";
    case ErrorCode::kServiceUnreachable:
      return "100050";
    case ErrorCode::kCredentialDownloadFailed:
      return "403";
    case ErrorCode::kMachineRenamed:
      return "230006";
    case ErrorCode::kShadowStorageInsufficient:
      return "0x8004231F";
    default:
      return "";
  }
}

std::string_view CatalogueMessage(ErrorCode code) {
  switch (code) {
    case ErrorCode::kPassphraseNotConfigured:
      return "Encryption passphrase not correctly configured";
    case ErrorCode::kActivationFailed:
      return "The activation did not complete successfully";
    case ErrorCode::kScratchInaccessible:
      return "Could not access the scratch location";
    case ErrorCode::kLowDiskSpace:
      return "Backup failed: insufficient storage where scratch is";
    case ErrorCode::kChecksumStoreFailed:
      return "Could not access the backup checksum in scratch";
    case ErrorCode::kInvalidVaultCredentials:
      return "Invalid vault credentials provided";
    case ErrorCode::kServiceUnreachable:
      return "Agent was unable to connect to the backup service";
    case ErrorCode::kCredentialDownloadFailed:
      return "Failed to download vault credential file";
    case ErrorCode::kMachineRenamed:
      return "Resource not provisioned in service stamp";
    case ErrorCode::kShadowStorageInsufficient:
      return "Backup failed: insufficient shadow copy storage on a volume being backed up";
    default:
      return "";
  }
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string_view id = CatalogueId(code_);
  if (id.empty()) return detail_;
  std::string out = "[" + std::string(id) + "] " + std::string(CatalogueMessage(code_));
  if (!detail_.empty()) out += ": " + detail_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, std::string(context) + ": " + detail_, os_error_);
}

}  // namespace obagent
