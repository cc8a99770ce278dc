// The command-line options of obctl's commands and of cbengine: a module of
// its own (library obagent_cmdline) that both front ends share, so the
// engine service includes nothing of obctl's src/cli. Each option is
// declared once, bound to the variable that receives its value:
//
//   std::vector<std::string> includes;
//   size_t threads = 0;  // a variable's value before parsing is its default
//   bool dry_run = false;
//   OptionSet options("backup start");
//   options.Add("include", &includes, "files or folders to back up").Required();
//   options.Add("threads", &threads, "worker threads");
//   options.Add("dry-run", &dry_run, "change nothing");  // a bool is a switch
//   Status parsed = options.Parse(args);
//
// Our own rather than Boost.ProgramOptions, a compiled library that Debian
// ships for Linux only (docs/dependencies.md); this builds wherever the
// agent does. The syntax and error messages are those obctl had with Boost:
//   --name VALUE, --name=VALUE    a value option; the next word is its value,
//                                 whatever it looks like ("--path --json")
//   --name V1 V2 ...              a list option takes the words up to the next
//                                 option; given again, it adds to the list
//   --name                        a switch (bool): takes no value
//   WORD                          fills the next Positional() option
//   --                            the words after it are positional
//   --help, -h                    sets HelpRequested(); required options are
//                                 then not checked
// Names are not abbreviated: a script's "--dry" must not come to mean
// another option when one is added.
//
// Thread safety: an OptionSet is used by one thread (the one parsing).
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "obagent/status.h"

namespace obagent::cmdline {

// Where an option's value goes. std::optional stays empty unless the option
// is given; the other types keep their value (the default) then.
using OptionTarget =
    std::variant<bool*, std::string*, int*, size_t*, double*, std::optional<std::string>*,
                 std::optional<int>*, std::optional<double>*, std::vector<std::string>*>;

class Option {
 public:
  Option(std::string name, OptionTarget target, std::string help);

  // Parse() fails unless the option is given.
  Option& Required();
  // Takes the next positional word (a list option: all of them), in the
  // order the options were marked.
  Option& Positional();
  // Not listed by Help(): overrides for administrators and tests.
  Option& Hidden();

 private:
  friend class OptionSet;
  bool is_switch() const;
  bool is_list() const;
  // Stores one value word; a message naming the option when it does not fit.
  Status Store(std::string_view value);

  std::string name_;
  OptionTarget target_;
  std::string help_;
  std::string default_text_;  // the target's value at declaration, for Help()
  bool required_ = false;
  bool positional_ = false;
  bool hidden_ = false;
  int times_given_ = 0;
};

class OptionSet {
 public:
  // command names the set in messages: "vault create".
  explicit OptionSet(std::string command) : command_(std::move(command)) {}

  // Declares --name. The returned option stays valid as long as the set.
  Option& Add(std::string name, OptionTarget target, std::string help = "");

  // Fills the targets from words (the words after the command). The first
  // problem fails it with kInvalidArgument and a message for the user:
  // "unrecognised option '--bogus'", "the option '--path' is required but
  // missing", "the argument ('abc') for option '--proxy-port' is invalid"...
  Status Parse(const std::vector<std::string>& words);

  // Whether --name was on the command line (not just its default).
  bool Given(std::string_view name) const;
  bool HelpRequested() const { return help_requested_; }
  const std::string& command() const { return command_; }
  // One line per listed option: "  --name arg (=default)  help".
  std::string Help() const;

 private:
  Option* Find(std::string_view name);
  const Option* Find(std::string_view name) const;

  std::string command_;
  std::deque<Option> options_;  // a deque: Add() does not move earlier options
  bool help_requested_ = false;
};

}  // namespace obagent::cmdline
