#include "daemon/config.hpp"

#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "daemon/state_file.hpp"

namespace kairos {
namespace {

// Collects problems as "origin:line: message" so one run reports all of them.
class Problems {
 public:
  explicit Problems(std::string_view origin) : origin_(origin) {}
  void add(const toml::node* node, const std::string& message) {
    std::size_t line = node ? node->source().begin.line : 0;
    add(line, message);
  }
  void add(std::size_t line, const std::string& message) {
    list_.push_back(origin_ + ":" + std::to_string(line) + ": " + message);
  }
  bool empty() const { return list_.empty(); }
  std::string joined() const {
    std::string out;
    for (const auto& p : list_) out += (out.empty() ? "" : "\n") + p;
    return out;
  }

 private:
  std::string origin_;
  std::vector<std::string> list_;
};

void reject_unknown_keys(const toml::table& table, const std::set<std::string_view>& known, const std::string& where,
                         Problems& problems) {
  for (const auto& [key, value] : table) {
    if (!known.contains(key.str())) problems.add(&value, "unknown key '" + std::string(key.str()) + "' in " + where);
  }
}

template <class T>
std::optional<T> get(const toml::table& table, std::string_view key, const char* type_name, Problems& problems) {
  const toml::node* node = table.get(key);
  if (!node) return std::nullopt;
  if (auto value = node->value_exact<T>()) return *value;
  problems.add(node, "'" + std::string(key) + "' must be " + type_name);
  return std::nullopt;
}

void read_daemon(const toml::table& t, DaemonConfig& config, Problems& problems) {
  reject_unknown_keys(t, {"steer", "state-dir"}, "[daemon]", problems);
  if (auto v = get<bool>(t, "steer", "true or false", problems)) config.steer = *v;
  if (auto v = get<std::string>(t, "state-dir", "a string", problems)) {
    if (v->empty() || v->front() != '/') {
      problems.add(t.get("state-dir"), "'state-dir' must be an absolute path");
    } else {
      config.state_dir = *v;
    }
  }
}

std::optional<int> read_poll(const toml::table& t, std::string_view key, Problems& problems) {
  auto v = get<std::int64_t>(t, key, "an integer", problems);
  if (!v) return std::nullopt;
  if (*v < kMinPollLimit || *v > kMaxPollLimit) {
    problems.add(t.get(key), "'" + std::string(key) + "' must be between " + std::to_string(kMinPollLimit) + " and " +
                                 std::to_string(kMaxPollLimit) + " (log2 seconds)");
    return std::nullopt;
  }
  return static_cast<int>(*v);
}

void read_source(const toml::table& t, DaemonConfig& config, Problems& problems) {
  SourceConfig source;
  source.line = t.source().begin.line;
  reject_unknown_keys(t, {"address", "nts", "ca", "aead", "minpoll", "maxpoll", "iburst"}, "[[source]]", problems);
  if (auto v = get<std::string>(t, "address", "a string", problems)) {
    source.address = *v;
  }
  if (source.address.empty()) problems.add(source.line, "[[source]] needs a non-empty 'address'");
  if (auto v = get<bool>(t, "nts", "true or false", problems)) source.nts = *v;
  if (auto v = get<std::string>(t, "ca", "a string", problems)) source.ca = *v;
  if (const toml::node* node = t.get("aead")) {
    const toml::array* list = node->as_array();
    std::vector<std::uint16_t> ids;
    bool ok = list && !list->empty();
    if (list) {
      for (const toml::node& item : *list) {
        auto id = item.value_exact<std::int64_t>();
        if (!id || (*id != 15 && *id != 16 && *id != 17)) {
          ok = false;
          break;
        }
        ids.push_back(static_cast<std::uint16_t>(*id));
      }
    }
    if (ok) {
      source.aeads = ids;
    } else {
      problems.add(node, "'aead' must be a non-empty list of 15, 16 and 17 (AES-SIV-CMAC-256/384/512)");
    }
  }
  if (auto v = read_poll(t, "minpoll", problems)) source.minpoll = *v;
  if (auto v = read_poll(t, "maxpoll", problems)) source.maxpoll = *v;
  if (source.minpoll > source.maxpoll) problems.add(source.line, "'minpoll' is larger than 'maxpoll'");
  if (auto v = get<bool>(t, "iburst", "true or false", problems)) source.iburst = *v;
  if (source.ca && !source.nts) problems.add(t.get("ca"), "'ca' only applies to NTS sources");
  config.sources.push_back(std::move(source));
}

}  // namespace

Result<DaemonConfig> parse_config(std::string_view text, std::string_view origin) {
  Problems problems(origin);
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    problems.add(e.source().begin.line, std::string(e.description()));
    return fail(problems.joined());
  }

  DaemonConfig config;
  reject_unknown_keys(root, {"daemon", "source"}, "the top level", problems);
  if (const toml::node* daemon = root.get("daemon")) {
    if (const toml::table* t = daemon->as_table()) {
      read_daemon(*t, config, problems);
    } else {
      problems.add(daemon, "'daemon' must be a table: [daemon]");
    }
  }
  if (const toml::node* sources = root.get("source")) {
    const toml::array* list = sources->as_array();
    if (!list || !list->is_array_of_tables()) {
      problems.add(sources, "sources are written as [[source]] tables");
    } else {
      for (const toml::node& node : *list) read_source(*node.as_table(), config, problems);
    }
  }
  if (config.sources.empty() && problems.empty()) problems.add(std::size_t{0}, "no [[source]] configured");
  if (!problems.empty()) return fail(problems.joined());
  return config;
}

Result<DaemonConfig> load_config(const std::string& path) {
  auto bytes = read_file_bounded(path, 1 << 20);
  if (!bytes) return std::unexpected(bytes.error());
  return parse_config(std::string_view(reinterpret_cast<const char*>(bytes->data()), bytes->size()), path);
}

}  // namespace kairos
