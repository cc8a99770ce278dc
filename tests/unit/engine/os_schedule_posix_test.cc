#include "obagent/engine/os_schedule.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/property_tree/ptree.hpp>
#include <boost/property_tree/xml_parser.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace obagent::engine {
namespace {

namespace pt = boost::property_tree;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

pt::ptree ParseXml(const std::string& xml) {
  std::istringstream in(xml);
  pt::ptree tree;
  pt::read_xml(in, tree, pt::xml_parser::trim_whitespace);
  return tree;
}

std::vector<std::string> Children(const pt::ptree& node) {
  std::vector<std::string> names;
  for (const auto& [name, _] : node) {
    if (name != "<xmlattr>") names.push_back(name);
  }
  return names;
}

// StartBoundary has no zone: the Task Scheduler reads it as local time.
TEST(OsScheduleTaskXml, StartDateIsTheLocalDate) {
  const int64_t evening_utc = 1709335800;  // 2024-03-01T23:30:00Z
  EXPECT_EQ(TaskStartDate(evening_utc, 0), "2024-03-01");
  EXPECT_EQ(TaskStartDate(evening_utc, 120), "2024-03-02");  // UTC+2: already the 2nd
  EXPECT_EQ(TaskStartDate(1709253000, -300), "2024-02-29");  // 00:30Z is 19:30 the day before
  EXPECT_EQ(TaskStartDate(1709253000, 0), "2024-03-01");
}

TEST(OsScheduleTaskXml, TriggerPerTimeOfDay) {
  Schedule s{{3, 1}, {21 * 60 + 30, 3 * 60}};  // Mon, Wed at 03:00 and 21:30
  std::string xml = TaskSchedulerXml(s, "C:\\Program Files\\obagent\\obctl.exe", "backup scheduled",
                                     "2024-05-06");
  EXPECT_TRUE(xml.starts_with("<?xml version=\"1.0\"?>\n")) << "no encoding declared";
  pt::ptree doc = ParseXml(xml);
  const pt::ptree& task = doc.get_child("Task");
  EXPECT_EQ(task.get<std::string>("<xmlattr>.version"), "1.2");
  EXPECT_EQ(task.get<std::string>("<xmlattr>.xmlns"),
            "http://schemas.microsoft.com/windows/2004/02/mit/task");
  const pt::ptree& triggers = task.get_child("Triggers");
  ASSERT_THAT(Children(triggers), ElementsAre("CalendarTrigger", "CalendarTrigger"));
  std::vector<std::string> starts;
  for (const auto& [name, trigger] : triggers) {
    starts.push_back(trigger.get<std::string>("StartBoundary"));
    EXPECT_EQ(trigger.get<std::string>("Enabled"), "true");
    // As text: get<int> trips a false -Wmaybe-uninitialized inside Boost at -O2.
    EXPECT_EQ(trigger.get<std::string>("ScheduleByWeek.WeeksInterval"), "1");
    EXPECT_THAT(Children(trigger.get_child("ScheduleByWeek.DaysOfWeek")),
                ElementsAre("Monday", "Wednesday"));
  }
  EXPECT_THAT(starts, ElementsAre("2024-05-06T03:00:00", "2024-05-06T21:30:00"));
}

TEST(OsScheduleTaskXml, SettingsPrincipalAndAction) {
  Schedule s{{0, 1, 2, 3, 4, 5, 6}, {0}};
  std::string xml = TaskSchedulerXml(s, "C:\\obagent\\obctl.exe",
                                     "--state-dir \"C:\\Program Data\\obagent\" a<b&c");
  pt::ptree task = ParseXml(xml).get_child("Task");
  EXPECT_THAT(
      Children(task.get_child("Triggers.CalendarTrigger.ScheduleByWeek.DaysOfWeek")),
      ElementsAre("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"));
  EXPECT_EQ(task.get<std::string>("Triggers.CalendarTrigger.StartBoundary"), "2024-01-01T00:00:00");
  EXPECT_EQ(task.get<std::string>("Principals.Principal.UserId"), "S-1-5-18");
  EXPECT_EQ(task.get<std::string>("Principals.Principal.RunLevel"), "HighestAvailable");
  std::string principal_id = task.get<std::string>("Principals.Principal.<xmlattr>.id");
  EXPECT_EQ(task.get<std::string>("Actions.<xmlattr>.Context"), principal_id);
  const pt::ptree& settings = task.get_child("Settings");
  EXPECT_EQ(settings.get<std::string>("StartWhenAvailable"), "true");
  EXPECT_EQ(settings.get<std::string>("RunOnlyIfNetworkAvailable"), "true");
  EXPECT_EQ(settings.get<std::string>("MultipleInstancesPolicy"), "IgnoreNew");
  EXPECT_EQ(settings.get<std::string>("ExecutionTimeLimit"), "PT72H");
  EXPECT_EQ(settings.get<std::string>("Enabled"), "true");
  EXPECT_EQ(task.get<std::string>("Actions.Exec.Command"), "C:\\obagent\\obctl.exe");
  EXPECT_EQ(task.get<std::string>("Actions.Exec.Arguments"),
            "--state-dir \"C:\\Program Data\\obagent\" a<b&c");
  // The name is given at registration only.
  EXPECT_EQ(xml.find("OnlineBackup"), std::string::npos);
}

TEST(OsScheduleTaskXml, Utf16FileHasBomAndSameText) {
  std::string xml = TaskSchedulerXml({{1}, {60}}, "C:\\obctl.exe", "Zürich \xF0\x9F\x98\x80");
  Result<Bytes> utf16 = Utf16LeWithBom(xml);
  ASSERT_TRUE(utf16.ok());
  ASSERT_GE(utf16->size(), 2u);
  EXPECT_EQ((*utf16)[0], 0xFF);
  EXPECT_EQ((*utf16)[1], 0xFE);
  // ASCII maps to unit, 0; 'ü' to FC 00; U+1F600 to a surrogate pair.
  EXPECT_EQ((*utf16)[2], '<');
  EXPECT_EQ((*utf16)[3], 0);
  std::string bytes(utf16->begin(), utf16->end());
  EXPECT_NE(bytes.find(std::string("\xFC\x00", 2)), std::string::npos);
  EXPECT_NE(bytes.find(std::string("\x3D\xD8\x00\xDE", 4)), std::string::npos);
  size_t units = 0;
  for (size_t i = 0; i < xml.size(); ++i) {
    if ((static_cast<uint8_t>(xml[i]) & 0xC0) != 0x80) ++units;
  }
  EXPECT_EQ(utf16->size(), 2 + 2 * (units + 1));  // one supplementary character
  EXPECT_FALSE(Utf16LeWithBom("\xC3").ok());
  EXPECT_FALSE(Utf16LeWithBom("\xC0\xAF").ok());      // overlong
  EXPECT_FALSE(Utf16LeWithBom("\xED\xA0\x80").ok());  // surrogate
}

TEST(OsScheduleTaskXml, WindowsQuoting) {
  EXPECT_EQ(WindowsQuoteArgument("plain"), "plain");
  EXPECT_EQ(WindowsQuoteArgument(""), "\"\"");
  EXPECT_EQ(WindowsQuoteArgument("C:\\Program Files\\x"), "\"C:\\Program Files\\x\"");
  EXPECT_EQ(WindowsQuoteArgument("C:\\dir with space\\"), "\"C:\\dir with space\\\\\"");
  EXPECT_EQ(WindowsQuoteArgument("say \"hi\""), "\"say \\\"hi\\\"\"");
}

TEST(OsScheduleSystemd, TimerOnCalendarLines) {
  Schedule s{{3, 1}, {21 * 60 + 30, 3 * 60}};
  EXPECT_THAT(SystemdOnCalendar(s),
              ElementsAre("Mon,Wed *-*-* 03:00:00", "Mon,Wed *-*-* 21:30:00"));
  Schedule weekend{{0, 6}, {5}};
  EXPECT_THAT(SystemdOnCalendar(weekend), ElementsAre("Sat,Sun *-*-* 00:05:00"));
  Schedule every{{0, 1, 2, 3, 4, 5, 6}, {23 * 60 + 59}};
  EXPECT_THAT(SystemdOnCalendar(every), ElementsAre("*-*-* 23:59:00"));

  std::string timer = SystemdTimerUnit(s);
  EXPECT_THAT(timer, HasSubstr("[Timer]\nOnCalendar=Mon,Wed *-*-* 03:00:00\n"
                               "OnCalendar=Mon,Wed *-*-* 21:30:00\nPersistent=true\n"));
  EXPECT_THAT(timer, HasSubstr("Unit=obagent-backup.service\n"));
  EXPECT_THAT(timer, HasSubstr("[Install]\nWantedBy=timers.target\n"));
}

TEST(OsScheduleSystemd, ServiceUnitIsHardenedOneshot) {
  std::string unit = SystemdServiceUnit(
      {"/usr/bin/obctl", "--state-dir", "/var/lib/obagent dir", "backup", "100%$HOME"},
      {"/var/lib/obagent dir", "/var/cache/obagent"});
  EXPECT_THAT(unit, HasSubstr("[Service]\nType=oneshot\n"));
  EXPECT_THAT(unit, HasSubstr("\nExecStart=/usr/bin/obctl --state-dir \"/var/lib/obagent dir\" "
                              "backup 100%%$$HOME\n"));
  EXPECT_THAT(unit, HasSubstr("\nProtectSystem=strict\n"));
  EXPECT_THAT(unit, HasSubstr("\nReadWritePaths=\"/var/lib/obagent dir\"\n"
                              "ReadWritePaths=/var/cache/obagent\n"));
  EXPECT_THAT(unit, HasSubstr("\nPrivateTmp=yes\n"));
  EXPECT_THAT(unit, HasSubstr("\nNoNewPrivileges=yes\n"));
  EXPECT_THAT(unit, HasSubstr("After=network-online.target"));
}

// `systemd-analyze calendar` parses every OnCalendar expression, when the
// tool is there.
TEST(OsScheduleSystemd, CalendarExpressionsParse) {
  const char* tool = "/usr/bin/systemd-analyze";
  if (::access(tool, X_OK) != 0) GTEST_SKIP() << "systemd-analyze not installed";
  Schedule s{{0, 2, 4, 6}, {0, 12 * 60 + 15, 23 * 60 + 45}};
  for (const auto& expr : SystemdOnCalendar(s)) {
    std::string cmd = std::string(tool) + " calendar '" + expr + "' 2>&1";
    FILE* pipe = ::popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string out;
    char buf[256];
    while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
    int rc = ::pclose(pipe);
    EXPECT_EQ(rc, 0) << expr << ": " << out;
    EXPECT_THAT(out, HasSubstr("Normalized form: ")) << out;
  }
  // The whole timer file, when `systemd-analyze verify` can check units
  // offline (it needs the service file beside the timer).
  std::string dir = ::testing::TempDir() + "obagent-units-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + kSystemdTimerName) << SystemdTimerUnit(s);
  std::ofstream(dir + "/" + kSystemdServiceName)
      << SystemdServiceUnit({"/bin/true"}, {"/var/lib/obagent"});
  std::string cmd =
      std::string(tool) + " verify --man=no '" + dir + "/" + kSystemdTimerName + "' 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buf[256];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  ::pclose(pipe);
  std::filesystem::remove_all(dir);
  // Without a running systemd verify may not load units; only a complaint
  // about our files counts.
  EXPECT_THAT(out, ::testing::Not(HasSubstr("Unknown key"))) << out;
  EXPECT_THAT(out, ::testing::Not(HasSubstr("Failed to parse"))) << out;
}

}  // namespace
}  // namespace obagent::engine
