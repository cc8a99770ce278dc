// Machine settings (Get-/Set-OBMachineSetting): bandwidth throttling by work
// and non-work hours, the proxy used to reach vaultd, and moving the scratch
// folder. They live in <state dir>/agent.json beside the registration and
// take effect at the next job.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "obagent/platform.h"
#include "obagent/status.h"
#include "obagent/storage/throttled_store.h"

namespace obagent::engine {

// MARS accepts 512 Kbps to 1023 Mbps per period; so do we (in bytes/s,
// 1 Kbps = 1024 bit/s as MARS counts).
constexpr uint64_t kMinThrottleBytesPerSecond = 512ull * 1024 / 8;          // 64 KiB/s
constexpr uint64_t kMaxThrottleBytesPerSecond = 1023ull * 1024 * 1024 / 8;  // ~128 MiB/s

struct BandwidthThrottle {
  bool enabled = false;
  uint8_t work_days = 0x3E;  // bit d = weekday d (0 = Sunday): Mon–Fri
  int work_start_minute = 9 * 60;
  int work_end_minute = 18 * 60;  // exclusive; after the start
  uint64_t work_bytes_per_second = 0;
  uint64_t non_work_bytes_per_second = 0;

  // Checked before anything is stored: both rates in the MARS range, at
  // least one work day, start before end.
  Status Validate() const;
  // The rate at a local weekday (0 = Sunday) and minute of the day; 0 means
  // unlimited (throttling off).
  uint64_t BytesPerSecondAt(int weekday, int minute_of_day) const;
  // "Mon,Tue,Wed,Thu,Fri 09:00-18:00 at 1 MiB/s, otherwise 4 MiB/s" or "off".
  std::string Describe() const;
};

// "65536", "512KB/s", "10MB/s", "1GB/s" (bytes, 1 KB = 1024 B) or "512Kbps",
// "8Mbps" (bits): bytes per second. Case-insensitive; "/s" is optional for
// byte units.
Result<uint64_t> ParseBandwidth(std::string_view text);
std::string FormatBandwidth(uint64_t bytes_per_second);
// "mon,tue,wed" (or "all"): a mask as BandwidthThrottle::work_days.
Result<uint8_t> ParseWorkDays(std::string_view text);
std::string FormatWorkDays(uint8_t mask);
// "HH:MM" (00:00–24:00): minutes after midnight.
Result<int> ParseHourMinute(std::string_view text);
std::string FormatHourMinute(int minutes);

// The throttle's rate at a moment, in this machine's local time.
std::unique_ptr<storage::RateSchedule> NewLocalTimeSchedule(const BandwidthThrottle& throttle);

struct ProxySetting {
  std::string url;  // "http://proxy:3128"; empty: connect directly
  std::string user;
  std::string password;
};
// "http://host:port" from Set-OBMachineSetting's -ProxyServer and -ProxyPort;
// a server without a scheme gets http://.
Result<std::string> ProxyUrl(std::string_view server, int port);

struct MachineSettings {
  BandwidthThrottle throttle;
  ProxySetting proxy;
  std::string scratch_dir;  // SetMachineSettings keeps it; ApplyMachineSettings moves it
};

Result<MachineSettings> GetMachineSettings(platform::Env& env, const std::string& state_dir);
// Validates, then replaces the throttle and proxy in agent.json atomically
// (0600); on any error nothing changes.
Status SetMachineSettings(platform::Env& env, const std::string& state_dir,
                          const MachineSettings& settings);

// Moves the scratch folder (OnlineBackup.KEK and the caches) to new_dir:
//  1. refuses while a job holds the machine's writer lock, and a new folder
//     inside the old one (or the reverse) or holding another key file;
//  2. checks the new folder as before a job (0x1FC07, SalVhdInitialization-
//     Error, SalLowDiskSpace), including room for what is copied;
//  3. copies the caches, then the key file (each written atomically, fsynced)
//     and reads the key back;
//  4. switches agent.json to the new folder (atomic rename);
//  5. only then deletes what it copied from the old folder (and the folder
//     itself if that leaves it empty).
// A crash at any step leaves agent.json naming a folder with the key file.
Status MoveScratch(platform::Env& env, const std::string& state_dir, const std::string& new_dir);

// Set-OBMachineSetting as every front end applies it (obctl machine-setting
// set, the console's settings page): the one owner of the order. The
// throttle and proxy are validated first (nothing changes when they are
// wrong); then the scratch folder is moved when settings.scratch_dir names
// another folder (empty: keep it), since the move can fail for reasons
// only found by trying (space, permissions) and then nothing has changed
// either; only then are the throttle and proxy saved.
Status ApplyMachineSettings(platform::Env& env, const std::string& state_dir,
                            const MachineSettings& settings);

}  // namespace obagent::engine
