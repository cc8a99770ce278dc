// Progress line for terminals: files, bytes, MB/s and ETA, redrawn in place
// on stderr. Silent when stderr is not a terminal or --json is given.
#pragma once

#include <string>

#include "obagent/engine/job.h"

namespace obagent::cli {

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
