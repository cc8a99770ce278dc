// obctl's progress line (see progress.h); the arithmetic is the engine's.
#include "cli/progress.h"

#include <cstdio>

#include "obagent/engine/progress.h"

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

namespace {

std::string FormatDuration(double seconds) {
  auto s = static_cast<unsigned long long>(seconds + 0.5);
  char buf[48];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", s / 3600, s / 60 % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%llu:%02llu", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

std::string FormatProgressLine(const std::string& verb, const engine::Progress& p) {
  engine::ProgressEstimate e = engine::EstimateProgress(p);
  std::string line = verb.empty() ? "" : verb + " ";
  if (e.fraction) {
    int filled = static_cast<int>(*e.fraction * 20);
    line += "[" + std::string(filled, '#') + std::string(20 - filled, '.') + "] " +
            std::to_string(e.percent) + "% ";
  }
  line += std::to_string(p.files_done);
  if (p.files_total > 0) line += " of " + std::to_string(p.files_total);
  line += " files, " + HumanBytes(static_cast<double>(p.bytes_done));
  if (p.bytes_total > 0) line += " of " + HumanBytes(static_cast<double>(p.bytes_total));
  if (p.bytes_read > 0 || p.bytes_uploaded > 0) {
    // A backup: bytes_done is what the vault holds; reading runs ahead.
    line += " in the vault (read " + HumanBytes(static_cast<double>(p.bytes_read)) + ", uploaded " +
            HumanBytes(static_cast<double>(p.bytes_uploaded)) + ")";
  }
  char rate[32];
  std::snprintf(rate, sizeof rate, ", %.1f MB/s", e.bytes_per_second / 1e6);
  line += rate;
  if (e.eta_seconds) line += ", ETA " + FormatDuration(*e.eta_seconds);
  return line;
}

void ProgressLine::Update(const engine::Progress& p) {
  if (!enabled_) return;
  std::fprintf(stderr, "\r\033[K%s", FormatProgressLine(verb_, p).c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::Finish() {
  if (drawn_) std::fprintf(stderr, "\n");
  drawn_ = false;
}

}  // namespace obagent::cli
