// obctl's progress line: a bar, percentage and ETA only with a total, files
// "of" a known count, a backup's read and uploaded bytes beside what is in
// the vault, and the engine's rate.
#include "cli/progress.h"

#include <gtest/gtest.h>

namespace obagent::cli {
namespace {

TEST(ProgressLine, RestoreWithTotalsShowsBarPercentFilesOfTotalAndEta) {
  engine::Progress p;
  p.files_done = 3;
  p.files_total = 12;
  p.bytes_done = 10 << 20;
  p.bytes_total = 40 << 20;
  p.elapsed_seconds = 2;
  EXPECT_EQ(FormatProgressLine("Recovering", p),
            "Recovering [#####...............] 25% 3 of 12 files, 10.0 MiB of 40.0 MiB, "
            "5.2 MB/s, ETA 0:06");
}

TEST(ProgressLine, WithoutTotalsNoBarNoPercentNoEta) {
  engine::Progress p;
  p.files_done = 7;
  p.bytes_done = 1 << 20;
  p.elapsed_seconds = 1;
  EXPECT_EQ(FormatProgressLine("Recovering", p), "Recovering 7 files, 1.0 MiB, 1.0 MB/s");
}

TEST(ProgressLine, BackupShowsReadAndUploadedBesideWhatIsInTheVault) {
  engine::Progress p;
  p.files_done = 2;
  p.bytes_done = 16 << 20;
  p.bytes_read = 40 << 20;
  p.bytes_uploaded = 17 << 20;
  p.elapsed_seconds = 4;
  EXPECT_EQ(FormatProgressLine("Backing up", p),
            "Backing up 2 files, 16.0 MiB in the vault (read 40.0 MiB, uploaded 17.0 MiB), "
            "4.2 MB/s");
}

TEST(ProgressLine, LongEtaShowsHours) {
  engine::Progress p;
  p.bytes_done = 1;
  p.bytes_total = 7201;
  p.elapsed_seconds = 1;
  EXPECT_NE(FormatProgressLine("Recovering", p).find("ETA 2:00:00"), std::string::npos);
}

}  // namespace
}  // namespace obagent::cli
