// The option parser of obagent/cmdline/options.h.
#include "obagent/cmdline/options.h"

#include <algorithm>
#include <charconv>
#include <sstream>
#include <type_traits>

namespace obagent::cmdline {

namespace {

// An option word: "-x", "--name". A lone "-" is a value (stdin, by custom).
bool LooksLikeOption(std::string_view word) { return word.size() > 1 && word[0] == '-'; }

// The whole word as a number, or nothing: "12abc", " 5", "1.5" for an int,
// "-1" for a size_t and out-of-range values are not numbers.
template <typename T>
std::optional<T> ParseNumber(std::string_view text) {
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') {
    text.remove_prefix(1);
  }
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// The number type of a number target: int for int and std::optional<int>.
template <typename T>
struct NumberOf {
  using type = T;
};
template <typename T>
struct NumberOf<std::optional<T>> {
  using type = T;
};

template <typename T>
std::string DefaultText(const T& value) {
  if constexpr (std::is_same_v<T, std::string>) {
    return value;
  } else if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
    std::ostringstream out;
    out << value;
    return out.str();
  } else {
    return "";  // switches, lists and optionals have no default to show
  }
}

}  // namespace

Option::Option(std::string name, OptionTarget target, std::string help)
    : name_(std::move(name)), target_(target), help_(std::move(help)) {
  default_text_ = std::visit([](auto* t) { return DefaultText(*t); }, target_);
}

Option& Option::Required() {
  required_ = true;
  return *this;
}

Option& Option::Positional() {
  positional_ = true;
  return *this;
}

Option& Option::Hidden() {
  hidden_ = true;
  return *this;
}

bool Option::is_switch() const { return std::holds_alternative<bool*>(target_); }

bool Option::is_list() const { return std::holds_alternative<std::vector<std::string>*>(target_); }

Status Option::Store(std::string_view value) {
  if (times_given_ > 0 && !is_list()) {
    return InvalidArgument("option '--" + name_ + "' cannot be specified more than once");
  }
  ++times_given_;
  return std::visit(
      [&](auto* target) -> Status {
        using T = std::remove_pointer_t<decltype(target)>;
        if constexpr (std::is_same_v<T, bool>) {
          *target = true;
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          target->emplace_back(value);
        } else if constexpr (std::is_same_v<T, std::string> ||
                             std::is_same_v<T, std::optional<std::string>>) {
          *target = std::string(value);
        } else {
          std::optional<typename NumberOf<T>::type> number =
              ParseNumber<typename NumberOf<T>::type>(value);
          if (!number) {
            return InvalidArgument("the argument ('" + std::string(value) + "') for option '--" +
                                   name_ + "' is invalid");
          }
          *target = *number;
        }
        return Status::Ok();
      },
      target_);
}

Option& OptionSet::Add(std::string name, OptionTarget target, std::string help) {
  return options_.emplace_back(std::move(name), target, std::move(help));
}

Option* OptionSet::Find(std::string_view name) {
  auto it = std::find_if(options_.begin(), options_.end(),
                         [&](const Option& o) { return o.name_ == name; });
  return it == options_.end() ? nullptr : &*it;
}

const Option* OptionSet::Find(std::string_view name) const {
  return const_cast<OptionSet*>(this)->Find(name);
}

bool OptionSet::Given(std::string_view name) const {
  const Option* option = Find(name);
  return option != nullptr && option->times_given_ > 0;
}

Status OptionSet::Parse(const std::vector<std::string>& words) {
  std::vector<Option*> positional;
  for (Option& o : options_) {
    if (o.positional_) positional.push_back(&o);
  }
  size_t next_positional = 0;
  bool options_ended = false;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (!options_ended && word == "--") {
      options_ended = true;
      continue;
    }
    if (options_ended || !LooksLikeOption(word)) {
      if (next_positional == positional.size()) {
        return InvalidArgument("unexpected argument '" + word + "'");
      }
      Option& target = *positional[next_positional];
      if (!target.is_list()) ++next_positional;  // a list takes all the rest
      OB_RETURN_IF_ERROR(target.Store(word));
      continue;
    }
    if ((word == "--help" || word == "-h") && Find("help") == nullptr) {
      help_requested_ = true;
      continue;
    }
    // "--name" or "--name=value"; there are no short options ("-x").
    const bool is_long = word.starts_with("--");
    std::string_view body = std::string_view(word).substr(is_long ? 2 : 0);
    size_t equals = body.find('=');
    Option* option = is_long ? Find(body.substr(0, equals)) : nullptr;
    if (option == nullptr) {
      std::string_view shown =
          is_long ? std::string_view(word).substr(0, 2 + body.substr(0, equals).size())
                  : std::string_view(word);
      return InvalidArgument("unrecognised option '" + std::string(shown) + "'");
    }
    const std::string display = "'--" + option->name_ + "'";
    if (option->is_switch()) {
      if (equals != std::string_view::npos) {
        return InvalidArgument("option " + display + " does not take any arguments");
      }
      ++option->times_given_;
      *std::get<bool*>(option->target_) = true;
      continue;
    }
    if (equals != std::string_view::npos) {
      std::string_view value = body.substr(equals + 1);
      if (value.empty()) {
        return InvalidArgument("the argument for option " + display +
                               " should follow immediately after the equal sign");
      }
      OB_RETURN_IF_ERROR(option->Store(value));
    } else {
      if (i + 1 == words.size()) {
        return InvalidArgument("the required argument for option " + display + " is missing");
      }
      OB_RETURN_IF_ERROR(option->Store(words[++i]));
    }
    while (option->is_list() && i + 1 < words.size() && !LooksLikeOption(words[i + 1])) {
      OB_RETURN_IF_ERROR(option->Store(words[++i]));
    }
  }
  if (help_requested_) return Status::Ok();
  for (const Option& o : options_) {
    if (o.required_ && o.times_given_ == 0) {
      return InvalidArgument("the option '--" + o.name_ + "' is required but missing");
    }
  }
  return Status::Ok();
}

std::string OptionSet::Help() const {
  // Descriptions start in one column, or on the next line after a long name.
  constexpr size_t kColumn = 32;
  constexpr size_t kWidth = 80;
  std::string out;
  if (Find("help") == nullptr) {
    out += "  --help, -h" + std::string(kColumn - 12, ' ') + "this text\n";
  }
  for (const Option& o : options_) {
    if (o.hidden_) continue;
    std::string left = "  --" + o.name_;
    if (!o.is_switch()) left += o.is_list() ? " arg..." : " arg";
    if (!o.default_text_.empty() && !o.required_) left += " (=" + o.default_text_ + ")";
    if (o.required_) left += " (required)";
    out += left;
    if (!o.help_.empty()) {
      if (left.size() + 2 > kColumn) {
        out += "\n" + std::string(kColumn, ' ');
      } else {
        out += std::string(kColumn - left.size(), ' ');
      }
      // Wrapped at kWidth columns, continued in the description column.
      size_t column = kColumn;
      size_t pos = 0;
      while (pos < o.help_.size()) {
        size_t end = o.help_.find(' ', pos);
        if (end == std::string::npos) end = o.help_.size();
        std::string_view word(o.help_.data() + pos, end - pos);
        if (column > kColumn && column + 1 + word.size() > kWidth) {
          out += "\n" + std::string(kColumn, ' ');
          column = kColumn;
        } else if (column > kColumn) {
          out += ' ';
          ++column;
        }
        out += word;
        column += word.size();
        pos = end + 1;
      }
    }
    out += "\n";
  }
  return out;
}

}  // namespace obagent::cmdline
