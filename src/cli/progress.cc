#include "cli/progress.h"

#include <cstdio>

namespace obagent::cli {

std::string HumanBytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return buf;
}

void ProgressLine::Update(const engine::Progress& p) {
  if (!enabled_) return;
  double rate = p.elapsed_seconds > 0 ? p.bytes_done / p.elapsed_seconds : 0;
  std::string bar;
  std::string eta;
  if (p.bytes_total > 0) {
    double fraction = std::min(1.0, static_cast<double>(p.bytes_done) / p.bytes_total);
    int filled = static_cast<int>(fraction * 20);
    bar = "[" + std::string(filled, '#') + std::string(20 - filled, '.') + "] " +
          std::to_string(static_cast<int>(fraction * 100)) + "% ";
    if (rate > 0 && p.bytes_done < p.bytes_total) {
      int seconds = static_cast<int>((p.bytes_total - p.bytes_done) / rate);
      char buf[32];
      std::snprintf(buf, sizeof buf, " ETA %d:%02d", seconds / 60, seconds % 60);
      eta = buf;
    }
  }
  std::fprintf(stderr, "\r\033[K%s %s%llu files, %s, %.1f MB/s%s", verb_.c_str(), bar.c_str(),
               static_cast<unsigned long long>(p.files_done), HumanBytes(p.bytes_done).c_str(),
               rate / 1e6, eta.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::Finish() {
  if (drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace obagent::cli
