// Progress line for terminals: a bar and percentage when the total is known,
// files, bytes, MB/s and ETA (engine::EstimateProgress), and for a backup
// what was read and uploaded; redrawn in place on stderr. Silent when stderr
// is not a terminal or --json is given.
#pragma once

#include <string>

#include "obagent/engine/job.h"

namespace obagent::cli {

// The line's text for `p`, e.g. "Recovering [#####...............] 25%
// 3 of 12 files, 10.0 MiB of 40.0 MiB, 5.2 MB/s, ETA 0:06". Without a total
// there is no bar, percentage or ETA.
std::string FormatProgressLine(const std::string& verb, const engine::Progress& p);

class ProgressLine {
 public:
  ProgressLine(bool enabled, std::string verb) : enabled_(enabled), verb_(std::move(verb)) {}
  void Update(const engine::Progress& p);
  void Finish();

 private:
  bool enabled_;
  std::string verb_;
  bool drawn_ = false;
};

std::string HumanBytes(double bytes);

}  // namespace obagent::cli
